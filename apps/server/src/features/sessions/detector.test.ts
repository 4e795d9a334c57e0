import type { MetricValue } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import {
  type DetectorEvent,
  type DetectorSample,
  type DetectorState,
  detect,
  initialDetectorState,
  openSession,
  tick,
} from './detector.js';

const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const s = (sec: number, metrics: Record<string, MetricValue> = {}, position?: DetectorSample['position']) =>
  position ? { tsMs: T0 + sec * 1000, metrics, position } : { tsMs: T0 + sec * 1000, metrics };

/** Feeds the stream through a state that goes through JSON after every sample, as the processor stores it. */
function run(samples: DetectorSample[], state: DetectorState = initialDetectorState()) {
  const events: DetectorEvent[] = [];
  let current = state;
  for (const sample of samples) {
    const out = detect(current, sample);
    events.push(...out.events);
    current = JSON.parse(JSON.stringify(out.state)) as DetectorState;
  }
  return { events, state: current };
}

const ended = (events: DetectorEvent[]) => events.flatMap((e) => (e.type === 'ended' ? [e.session] : []));

/** A point `km` east of (48.1, 11.5) along the parallel. */
const east = (km: number) => ({ lat: 48.1, lon: 11.5 + km / (111.32 * Math.cos((48.1 * Math.PI) / 180)) });

describe('drive and charge detection', () => {
  it('records a drive of a car that reports gear, from D to P, with the odometer distance and its stats', () => {
    const { events, state } = run([
      s(0, { gear: 'P', battery_level_pct: 80, odometer_km: 1000 }, east(0)),
      s(60, { gear: 'D', battery_level_pct: 80, odometer_km: 1000, speed_kmh: 0 }, east(0)),
      s(120, { speed_kmh: 60, power_kw: 20, odometer_km: 1001, outside_temp_c: 10 }, east(1)),
      s(180, { speed_kmh: 90, power_kw: 30, odometer_km: 1002.5, outside_temp_c: 12 }, east(2.5)),
      s(240, { gear: 'P', speed_kmh: 0, power_kw: 0, battery_level_pct: 78, odometer_km: 1003 }, east(3)),
      s(300, { gear: 'P' }, east(3)),
    ]);
    expect(events.map((e) => e.type)).toEqual(['started', 'ended']);
    const [drive] = ended(events);
    expect(drive).toMatchObject({ kind: 'drive', startMs: T0 + 60_000, endMs: T0 + 240_000 });
    expect(drive!.stats).toMatchObject({
      distance_km: 3,
      duration_s: 180,
      max_speed_kmh: 90,
      avg_speed_kmh: 60,
      soc_start_pct: 80,
      soc_end_pct: 78,
      outside_temp_avg_c: 11,
      max_power_kw: 30,
    });
    // Trapezoids of 20→30→0 kW over 60 s steps (the first reading starts the integral).
    expect(drive!.stats.energy_used_kwh).toBeCloseTo((25 + 15) / 60, 3);
    expect(drive!.stats.efficiency_wh_km).toBeCloseTo((((25 + 15) / 60) * 1000) / 3, 0);
    expect(openSession(state)).toBeNull();
  });

  it('finds the drives of a phone that sends only positions: 200 m from its stop starts one, 180 s within 200 m ends it', () => {
    const samples: DetectorSample[] = [];
    for (let i = 0; i < 5; i++) samples.push(s(i * 10, {}, east(0.01 * (i % 2))));
    // 5 km at 50 km/h, a fix every 12 s (1/6 km).
    for (let i = 1; i <= 30; i++) samples.push(s(40 + i * 12, {}, east(i / 6)));
    // Parked 5 minutes, jittering a few metres.
    for (let i = 1; i <= 30; i++) samples.push(s(400 + i * 10, {}, east(5 + 0.003 * (i % 3))));
    const { events } = run(samples);
    const drives = ended(events);
    expect(drives).toHaveLength(1);
    // It starts at the last fix within 200 m of its stop (167 m out, at 52 s) and ends at the first fix
    // within 200 m of where it then stayed (167 m before it, at 388 s).
    expect(drives[0]!.startMs).toBe(T0 + 52_000);
    expect(drives[0]!.endMs).toBe(T0 + 388_000);
    // 4.83 km driven, and the few metres of jitter while it waited to count as stopped.
    expect(drives[0]!.stats.distance_km).toBeGreaterThan(4.83);
    expect(drives[0]!.stats.distance_km).toBeLessThan(4.95);
    expect(drives[0]!.stats.energy_used_kwh).toBeNull();
  });

  it('discards a drive under 0.1 km, and ends one at its last sample after 15 minutes without data', () => {
    const short = run([
      s(0, { gear: 'D', odometer_km: 10 }),
      s(30, { odometer_km: 10.05 }),
      s(60, { gear: 'P', odometer_km: 10.05 }),
    ]);
    expect(short.events.map((e) => e.type)).toEqual(['started', 'discarded']);

    const silent = run([s(0, { gear: 'D', odometer_km: 10 }), s(60, { odometer_km: 11 })]);
    expect(ended(silent.events)).toEqual([]);
    expect(openSession(silent.state)).toMatchObject({ kind: 'drive', endMs: null });
    expect(tick(silent.state, T0 + 60_000 + 899_000).events).toEqual([]);
    const closed = tick(silent.state, T0 + 60_000 + 900_000).events;
    expect(ended(closed)).toMatchObject([{ kind: 'drive', endMs: T0 + 60_000 }]);

    // The same silence, followed by data, ends it the same way.
    const back = run([
      s(0, { gear: 'D', odometer_km: 10 }),
      s(60, { odometer_km: 11 }),
      s(2000, { gear: 'P' }),
    ]);
    expect(ended(back.events)).toMatchObject([{ kind: 'drive', startMs: T0, endMs: T0 + 60_000 }]);
  });

  it('records a charge from charging_state, with the energy added, its maximum power and the charge curve', () => {
    const { events } = run([
      s(0, { charging_state: 'connected', battery_level_pct: 40 }),
      s(60, {
        charging_state: 'charging',
        charger_power_kw: 50,
        battery_level_pct: 40,
        charge_energy_added_kwh: 0,
      }),
      s(660, {
        charging_state: 'charging',
        charger_power_kw: 100,
        battery_level_pct: 50,
        charge_energy_added_kwh: 12,
      }),
      s(1260, {
        charging_state: 'charging',
        charger_power_kw: 40,
        battery_level_pct: 60,
        charge_energy_added_kwh: 20,
      }),
      s(1320, { charging_state: 'complete', charger_power_kw: 0, battery_level_pct: 60 }),
    ]);
    const [charge] = ended(events);
    expect(charge).toMatchObject({ kind: 'charge', startMs: T0 + 60_000, endMs: T0 + 1_320_000 });
    expect(charge!.stats).toMatchObject({
      energy_added_kwh: 20,
      max_power_kw: 100,
      soc_start_pct: 40,
      soc_end_pct: 60,
      energy_used_kwh: null,
      charge_curve: [
        { soc_pct: 40, power_kw: 50 },
        { soc_pct: 50, power_kw: 100 },
        { soc_pct: 60, power_kw: 40 },
      ],
    });
  });

  it('integrates charger power when the vehicle reports no energy counter', () => {
    const { events } = run([
      s(0, { charger_power_kw: 11 }),
      s(1800, { charger_power_kw: 11 }),
      s(3600, { charger_power_kw: 0 }),
    ]);
    // Readings 30 min apart are a gap in data, not integrated across (5 min at most).
    expect(ended(events)[0]!.stats.energy_added_kwh).toBe(0);
    const dense = run(
      Array.from({ length: 61 }, (_, i) => s(i * 60, { charger_power_kw: i === 60 ? 0 : 11 })),
    );
    expect(ended(dense.events)[0]!.stats.energy_added_kwh).toBeCloseTo(11 - 11 / 120, 3);
  });

  it('gives a vehicle back after 5 minutes offline with its battery level up a charge in the gap', () => {
    const { events } = run([
      s(0, { gear: 'P', battery_level_pct: 30, range_km: 100 }),
      s(4 * 3600, { gear: 'P', battery_level_pct: 80, range_km: 300 }),
    ]);
    expect(ended(events)).toMatchObject([
      {
        kind: 'charge',
        startMs: T0,
        endMs: T0 + 4 * 3_600_000,
        stats: { soc_start_pct: 30, soc_end_pct: 80, range_start_km: 100, range_end_km: 300 },
      },
    ]);
    // Back with less energy than before: no charge.
    expect(
      ended(run([s(0, { battery_level_pct: 30 }), s(4 * 3600, { battery_level_pct: 29 })]).events),
    ).toEqual([]);
  });

  it('switches from a drive to a charge when charging starts, and from a charge to a drive on a driving gear', () => {
    const { events } = run([
      s(0, { gear: 'D', odometer_km: 0 }),
      s(600, { odometer_km: 10 }),
      s(660, { charging_state: 'charging', charger_power_kw: 7, odometer_km: 10 }),
      s(1260, { charging_state: 'charging', charger_power_kw: 7 }),
      s(1320, { gear: 'D', odometer_km: 10 }),
      s(1920, { gear: 'P', odometer_km: 20 }),
    ]);
    expect(ended(events).map((x) => [x.kind, (x.startMs - T0) / 1000, ((x.endMs ?? 0) - T0) / 1000])).toEqual(
      [
        ['drive', 0, 660],
        ['charge', 660, 1320],
        ['drive', 1320, 1920],
      ],
    );
  });

  it('never gives negative or infinite stats for absurd jumps, a falling odometer or repeated times', () => {
    const { events } = run([
      s(0, { gear: 'D', odometer_km: 500 }, east(0)),
      s(10, { odometer_km: 400 }, { lat: -45, lon: 170 }),
      s(10, { odometer_km: 501 }, east(0.2)),
      s(20, { odometer_km: 501 }, east(0.4)),
      s(20, { gear: 'P' }, east(0.4)),
    ]);
    const [drive] = ended(events);
    for (const value of Object.values(drive!.stats)) {
      if (typeof value === 'number') expect(Number.isFinite(value) && value >= 0).toBe(true);
    }
    expect(drive!.stats.distance_km).toBe(1);
    const track = run([
      s(0, { ignition: true, speed_kmh: 10 }, east(0)),
      s(10, { speed_kmh: 10 }, { lat: -45, lon: 170 }),
      s(20, { speed_kmh: 10 }, east(0.05)),
      s(30, { speed_kmh: 10 }, east(0.1)),
      s(40, { ignition: false }, east(0.15)),
    ]);
    expect(ended(track.events)[0]!.stats.distance_km).toBeCloseTo(0.15, 2);
  });
});
