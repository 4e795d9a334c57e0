import { describe, expect, it } from 'vitest';
import { checkMetric } from './catalog.js';
import { VehicleSimulator } from './scenario.js';

const T0 = Date.UTC(2026, 0, 1, 8);

function run(sim: VehicleSimulator, seconds: number, stepS = 1) {
  const out = [];
  for (let s = 0; s <= seconds; s += stepS) out.push({ phase: sim.phase, message: sim.next(T0 + s * 1000) });
  return out;
}

describe('VehicleSimulator', () => {
  it('produces only values the catalog accepts, in every phase', () => {
    const sim = new VehicleSimulator({
      seed: 1,
      phaseMs: { parked: 60_000, driving: 300_000, charging: 300_000 },
    });
    const messages = run(sim, 1200);
    expect(new Set(messages.map((m) => m.phase))).toEqual(new Set(['parked', 'driving', 'charging']));
    for (const { message } of messages) {
      for (const [key, value] of Object.entries(message.metrics ?? {}))
        expect(checkMetric(key, value)).toBeNull();
    }
  });

  it('drives: moves, accumulates odometer and drains the battery', () => {
    const sim = new VehicleSimulator({ seed: 2, startPhase: 'driving' });
    const messages = run(sim, 300).map((m) => m.message);
    const first = messages[0]!;
    const last = messages.at(-1)!;
    expect(last.metrics?.odometer_km as number).toBeGreaterThan((first.metrics?.odometer_km as number) + 1);
    expect(last.metrics?.battery_level_pct as number).toBeLessThan(
      first.metrics?.battery_level_pct as number,
    );
    expect(last.position?.lat).not.toBe(first.position?.lat);
    expect(Math.max(...messages.map((m) => m.metrics?.speed_kmh as number))).toBeGreaterThan(30);
  });

  it('charges: the level and the energy added rise', () => {
    const sim = new VehicleSimulator({ seed: 3, startPhase: 'charging' });
    const messages = run(sim, 300).map((m) => m.message);
    expect(messages.at(-1)!.metrics?.battery_level_pct as number).toBeGreaterThan(
      messages[0]!.metrics?.battery_level_pct as number,
    );
    expect(messages.at(-1)!.metrics?.charging_state).toBe('charging');
    expect(messages.at(-1)!.metrics?.charge_energy_added_kwh as number).toBeGreaterThan(3);
  });

  it('is deterministic for a seed and numbers its messages', () => {
    const a = run(new VehicleSimulator({ seed: 9, startPhase: 'driving' }), 30);
    const b = run(new VehicleSimulator({ seed: 9, startPhase: 'driving' }), 30);
    expect(a).toEqual(b);
    expect(a.map((m) => m.message.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    expect(JSON.stringify(a[10]!.message).length).toBeLessThan(400);
  });
});
