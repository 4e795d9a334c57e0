import type { Session, SessionKind, SessionPage } from '@tacho/protocol';
import { formatDuration, formatNumber, formatSince, formatValue } from './format.js';

/**
 * How the dashboard shows recorded sessions (drives, charges, manual recordings): words, places and
 * figures with units. Pure, so the pages stay about layout and the rules here are tested.
 */

export const kindLabels: Record<SessionKind, string> = {
  drive: 'Drive',
  charge: 'Charge',
  manual: 'Recording',
};

export const kindFilters = [
  { value: 'all', label: 'All kinds' },
  { value: 'drive', label: 'Drives' },
  { value: 'charge', label: 'Charges' },
  { value: 'manual', label: 'Recordings' },
] as const;

export const sessionRanges = [
  { value: 'week', label: 'Last 7 days', days: 7 },
  { value: 'month', label: 'Last 30 days', days: 30 },
  { value: 'year', label: 'Last 365 days', days: 365 },
  { value: 'all', label: 'All time', days: 0 },
] as const;

/** The kind a `?kind=` value names, or undefined for all kinds (and anything unknown). */
export function kindFilter(value: string | null): SessionKind | undefined {
  return value === 'drive' || value === 'charge' || value === 'manual' ? value : undefined;
}

/** Where a `?range=` value starts, or undefined for all time (and anything unknown). */
export function rangeFrom(value: string | null, now: number): number | undefined {
  const days = sessionRanges.find((r) => r.value === value)?.days;
  return days ? now - days * 86_400_000 : undefined;
}

/** "52.5200, 13.4050": four decimals (about 10 m), the place without a geocoder; "—" when unknown. */
export function formatPlace(p: { lat: number; lon: number } | null | undefined): string {
  return p ? `${p.lat.toFixed(4)}, ${p.lon.toFixed(4)}` : '—';
}

/** "A → B" for a trip; one place when it did not move (a charge) or only one end is known. */
export function formatRoute(session: Session): string {
  const from = session.stats.start_position;
  const to = session.stats.end_position;
  if (!from && !to) return '—';
  if (!from || !to) return formatPlace(from ?? to);
  const a = formatPlace(from);
  const b = formatPlace(to);
  return a === b || session.kind === 'charge' ? a : `${a} → ${b}`;
}

/** How long it lasted, or has lasted so far while open. */
export function sessionDurationMs(session: Session, now: number): number {
  return Math.max(0, (session.endMs ?? now) - session.startMs);
}

export function formatSessionDuration(session: Session, now: number): string {
  return formatDuration(sessionDurationMs(session, now));
}

/** A charge does not travel: no distance rather than "0.0 km". */
export function formatDistance(session: Session): string {
  if (session.kind === 'charge' && session.stats.distance_km === 0) return '—';
  return formatValue(session.stats.distance_km, 'km');
}

/** Energy added for a charge ("+8.2 kWh"), used for a drive or recording ("4.1 kWh"). */
export function formatEnergy(session: Session): string {
  const { energy_added_kwh: added, energy_used_kwh: used } = session.stats;
  if (session.kind === 'charge') return added === null ? '—' : `+${formatValue(added, 'kwh')}`;
  return formatValue(used, 'kwh');
}

/** Consumption per km travelled: "152 Wh/km"; nothing for a charge. */
export function formatEfficiency(session: Session): string {
  const wh = session.stats.efficiency_wh_km;
  if (session.kind === 'charge' || wh === null) return '—';
  return `${formatNumber(Math.round(wh))} Wh/km`;
}

const verbs: Record<SessionKind, string> = { drive: 'Driving', charge: 'Charging', manual: 'Recording' };

/** "Driving since 10:42 · 12.3 km", "Charging since 10:42 · +8.2 kWh": a session still open. */
export function inProgressText(session: Session, now: number): string {
  const since = `${verbs[session.kind]} since ${formatSince(session.startMs, now)}`;
  const { energy_added_kwh: added, soc_end_pct: soc } = session.stats;
  if (session.kind === 'charge') {
    if (added !== null) return `${since} · +${formatValue(added, 'kwh')}`;
    return soc === null ? since : `${since} · ${formatValue(soc, 'pct')}`;
  }
  return `${since} · ${formatValue(session.stats.distance_km, 'km')}`;
}

/** "80 % → 61 %", or whichever end is known. */
function fromTo(start: number | null, end: number | null, unit: string): string | null {
  if (start === null && end === null) return null;
  if (start === null || end === null) return formatValue(start ?? end, unit);
  return `${formatValue(start, unit)} → ${formatValue(end, unit)}`;
}

export interface StatRow {
  /** Stable key for tests and React. */
  key: string;
  label: string;
  value: string;
  /** Long values (places) that take two cells of the grid. */
  wide?: boolean;
}

/** The figures worth reading for a session's kind, with units; unknown ones are left out. */
export function statRows(session: Session, now: number): StatRow[] {
  const s = session.stats;
  const charge = session.kind === 'charge';
  const rows: Array<[string, string, string | null]> = [
    ['distance', 'Distance', charge ? null : formatValue(s.distance_km, 'km')],
    ['duration', 'Duration', formatSessionDuration(session, now)],
    ['moving', 'Moving', charge || s.moving_s === 0 ? null : formatDuration(s.moving_s * 1000)],
    ['avg_speed', 'Average speed', charge ? null : nullable(s.avg_speed_kmh, 'kmh')],
    ['max_speed', 'Top speed', charge ? null : nullable(s.max_speed_kmh, 'kmh')],
    [
      'energy_added',
      'Energy added',
      s.energy_added_kwh === null ? null : `+${formatValue(s.energy_added_kwh, 'kwh')}`,
    ],
    ['energy_used', 'Energy used', charge ? null : nullable(s.energy_used_kwh, 'kwh')],
    ['efficiency', 'Consumption', charge || s.efficiency_wh_km === null ? null : formatEfficiency(session)],
    ['battery', 'Battery level', fromTo(s.soc_start_pct, s.soc_end_pct, 'pct')],
    ['range', 'Range', fromTo(s.range_start_km, s.range_end_km, 'km')],
    ['max_power', charge ? 'Top charging power' : 'Top power', nullable(s.max_power_kw, 'kw')],
    ['outside_temp', 'Outside temperature', nullable(s.outside_temp_avg_c, 'c')],
  ];
  const out: StatRow[] = rows.flatMap(([key, label, value]) =>
    value === null ? [] : [{ key, label, value }],
  );
  const route = formatRoute(session);
  if (route !== '—')
    out.push({ key: 'route', label: charge ? 'Place' : 'From → to', value: route, wide: true });
  return out;
}

function nullable(value: number | null, unit: string): string | null {
  return value === null ? null : formatValue(value, unit);
}

/** Newest-first order of the list: start time, then id (the server's keyset). */
function isOlder(a: Session, b: Session): boolean {
  return a.startMs < b.startMs || (a.startMs === b.startMs && a.id < b.id);
}

/**
 * A refreshed first page merged into what the list shows: the fresh page wins for its span (a drive's
 * figures grow, a discarded one goes, a new one appears), older pages already loaded stay below it.
 */
export function mergeNewest(current: SessionPage, fresh: SessionPage): SessionPage {
  const last = fresh.items.at(-1);
  // A fresh page with nothing after it covers everything: whatever else is shown is gone.
  if (!last || fresh.nextBefore === null) return fresh;
  const seen = new Set(fresh.items.map((s) => s.id));
  const older = current.items.filter((s) => !seen.has(s.id) && isOlder(s, last));
  return older.length === 0 ? fresh : { items: [...fresh.items, ...older], nextBefore: current.nextBefore };
}

/** The list a session page returns to after a deletion: the one it was opened from, with its filters. */
let lastList: string | null = null;

/** Remembers the session list being shown (its path and filters). */
export function rememberList(href: string): void {
  lastList = href;
}

export function listToReturnTo(vehicleId: string): string {
  const own = `/vehicles/${encodeURIComponent(vehicleId)}/sessions`;
  if (lastList && (lastList.startsWith('/sessions?') || lastList === '/sessions')) return lastList;
  if (lastList?.startsWith(own)) return lastList;
  return own;
}
