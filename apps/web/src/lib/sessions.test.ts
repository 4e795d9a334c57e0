import type { Session, SessionStats } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import {
  formatDistance,
  formatEfficiency,
  formatEnergy,
  formatPlace,
  formatRoute,
  inProgressText,
  kindFilter,
  mergeNewest,
  rangeFrom,
  statRows,
} from './sessions.js';

const noStats: SessionStats = {
  distance_km: 0,
  duration_s: 0,
  moving_s: 0,
  max_speed_kmh: null,
  avg_speed_kmh: null,
  soc_start_pct: null,
  soc_end_pct: null,
  range_start_km: null,
  range_end_km: null,
  energy_used_kwh: null,
  energy_added_kwh: null,
  efficiency_wh_km: null,
  max_power_kw: null,
  outside_temp_avg_c: null,
  start_position: null,
  end_position: null,
  charge_curve: null,
};

function session(over: Partial<Omit<Session, 'stats'>> & { stats?: Partial<SessionStats> } = {}): Session {
  const { stats, ...rest } = over;
  return {
    id: 's1',
    vehicleId: 'v1',
    kind: 'drive',
    name: null,
    startMs: Date.UTC(2025, 2, 12, 9, 0),
    endMs: Date.UTC(2025, 2, 12, 9, 40),
    ...rest,
    stats: { ...noStats, ...stats },
  };
}

const drive = session({
  stats: {
    distance_km: 12.34,
    energy_used_kwh: 1.87,
    efficiency_wh_km: 151.6,
    soc_start_pct: 80,
    soc_end_pct: 71,
    start_position: { lat: 52.52, lon: 13.405 },
    end_position: { lat: 52.530_04, lon: 13.42 },
  },
});
const charge = session({
  kind: 'charge',
  stats: {
    energy_added_kwh: 8.24,
    max_power_kw: 11,
    soc_start_pct: 40,
    soc_end_pct: 62,
    start_position: { lat: 52.53, lon: 13.42 },
    end_position: { lat: 52.53, lon: 13.42 },
  },
});

describe('sessions as the dashboard shows them', () => {
  it('names places by rounded coordinates and routes as from → to', () => {
    expect(formatPlace({ lat: 52.520_04, lon: -0.127_58 })).toBe('52.5200, -0.1276');
    expect(formatPlace(null)).toBe('—');
    expect(formatRoute(drive)).toBe('52.5200, 13.4050 → 52.5300, 13.4200');
    // A charge stays put: one place.
    expect(formatRoute(charge)).toBe('52.5300, 13.4200');
    expect(formatRoute(session())).toBe('—');
    expect(formatRoute(session({ stats: { end_position: { lat: 1, lon: 2 } } }))).toBe('1.0000, 2.0000');
  });

  it('gives energy used for drives and added for charges, consumption only for drives', () => {
    expect(formatEnergy(drive)).toBe('1.9 kWh');
    expect(formatEnergy(charge)).toBe('+8.2 kWh');
    expect(formatEnergy(session())).toBe('—');
    expect(formatEfficiency(drive)).toBe('152 Wh/km');
    expect(formatEfficiency(charge)).toBe('—');
    expect(formatDistance(drive)).toBe('12.3 km');
    expect(formatDistance(charge)).toBe('—');
  });

  it('says what is in progress and since when', () => {
    const now = Date.UTC(2025, 2, 12, 9, 50);
    const since = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' }).format(drive.startMs);
    expect(inProgressText({ ...drive, endMs: null }, now)).toBe(`Driving since ${since} · 12.3 km`);
    expect(inProgressText({ ...charge, endMs: null }, now)).toBe(`Charging since ${since} · +8.2 kWh`);
    expect(inProgressText({ ...charge, stats: { ...charge.stats, energy_added_kwh: null } }, now)).toBe(
      `Charging since ${since} · 62 %`,
    );
    // Another day: the date too.
    expect(inProgressText(drive, now + 3 * 86_400_000)).toMatch(new RegExp(`since .+, ${since} ·`));
  });

  it('lists the stats that apply to the kind, with units, and leaves unknown ones out', () => {
    const rows = (s: Session) => Object.fromEntries(statRows(s, s.endMs ?? 0).map((r) => [r.key, r.value]));
    expect(rows(drive)).toMatchObject({
      distance: '12.3 km',
      duration: '40 min',
      energy_used: '1.9 kWh',
      efficiency: '152 Wh/km',
      battery: '80 % → 71 %',
      route: '52.5200, 13.4050 → 52.5300, 13.4200',
    });
    expect(rows(drive)).not.toHaveProperty('energy_added');
    expect(rows(drive)).not.toHaveProperty('max_speed');
    expect(rows(charge)).toMatchObject({
      energy_added: '+8.2 kWh',
      max_power: '11.0 kW',
      route: '52.5300, 13.4200',
    });
    expect(statRows(charge, 0).find((r) => r.key === 'route')).toMatchObject({ label: 'Place', wide: true });
    expect(statRows(charge, 0).find((r) => r.key === 'max_power')?.label).toBe('Top charging power');
    for (const key of ['distance', 'efficiency', 'energy_used']) expect(rows(charge)).not.toHaveProperty(key);
    // An open session's duration runs to now.
    const open = { ...drive, endMs: null };
    expect(statRows(open, drive.startMs + 65 * 60_000).find((r) => r.key === 'duration')?.value).toBe(
      '1 h 5 min',
    );
  });

  it('reads filters from the address, ignoring unknown values', () => {
    const now = 1_700_000_000_000;
    expect(kindFilter('charge')).toBe('charge');
    expect(kindFilter('all')).toBeUndefined();
    expect(kindFilter('<script>')).toBeUndefined();
    expect(rangeFrom('week', now)).toBe(now - 7 * 86_400_000);
    expect(rangeFrom('year', now)).toBe(now - 365 * 86_400_000);
    expect(rangeFrom('all', now)).toBeUndefined();
    expect(rangeFrom(null, now)).toBeUndefined();
  });

  it('merges a refreshed first page above the older pages already loaded, without doubles or holes', () => {
    const at = (id: string, startMs: number, distance = 1) =>
      session({ id, startMs, endMs: startMs + 1000, stats: { distance_km: distance } });
    const shown = { items: [at('c', 30), at('b', 20), at('a', 10)], nextBefore: '10.a' };
    // A new drive pushed 'b' off the first page; 'c' grew; the older page stays.
    const fresh = { items: [at('d', 40), at('c', 30, 5)], nextBefore: '30.c' };
    const merged = mergeNewest(shown, fresh);
    expect(merged.items.map((s) => s.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(merged.items[1]?.stats.distance_km).toBe(5);
    expect(merged.nextBefore).toBe('10.a');
    // A discarded drive disappears; a fresh page that is the last page replaces everything.
    expect(
      mergeNewest(shown, { items: [at('c', 30), at('a', 10)], nextBefore: null }).items.map((s) => s.id),
    ).toEqual(['c', 'a']);
    // Nothing older loaded: the fresh page as it is.
    expect(mergeNewest({ items: [at('c', 30)], nextBefore: '30.c' }, fresh)).toBe(fresh);
  });
});
