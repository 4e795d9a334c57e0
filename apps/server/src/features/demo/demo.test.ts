import { type NativeMessage, VehicleSimulator } from '@tacho/protocol';
import { afterEach, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { type DetectorEvent, detect, initialDetectorState } from '../sessions/detector.js';
import { DEMO_VEHICLES, withDeviceKeys } from './index.js';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.dispose();
});

it('TACHO_DEMO creates three vehicles and feeds them through the pipeline', async () => {
  app = await createTestApp('sqlite', { TACHO_DEMO: 'true' });
  const vehicles = await app.storage.db.selectFrom('vehicles').select(['id', 'vin']).execute();
  expect(vehicles.map((v) => v.vin).sort()).toEqual(DEMO_VEHICLES.map((v) => v.vin));
  const deadline = Date.now() + 10_000;
  let withData = 0;
  while (Date.now() < deadline) {
    await app.telemetry.pipeline.flushDerived();
    const rows = await app.storage.db.selectFrom('vehicle_state').select('vehicle_id').distinct().execute();
    withData = rows.length;
    if (withData === 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(withData).toBe(3);
  // VinFast device keys arrive too: the deep scan of every demo vehicle has content.
  const until = Date.now() + 10_000;
  let scanned = 0;
  while (Date.now() < until) {
    await app.telemetry.pipeline.flushDerived();
    const rows = await app.storage.db.selectFrom('raw_keys').select('vehicle_id').distinct().execute();
    scanned = rows.length;
    if (scanned === 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(scanned).toBe(3);
});

/** Two simulated hours of one demo vehicle, a message a second, as the demo sends them. */
function twoHours(index: number): NativeMessage[] {
  const v = DEMO_VEHICLES[index]!;
  const sim = new VehicleSimulator({ seed: 7 + index, startPhase: v.startPhase, cycle: v.cycle });
  const start = Date.UTC(2026, 5, 1, 8);
  return Array.from({ length: 7200 }, (_, s) => withDeviceKeys(sim.next(start + s * 1000)));
}

it('each demo vehicle does what its name says for hours: the parked one never charges nor moves', () => {
  const [city, charger, parked] = [0, 1, 2].map(twoHours);
  const charging = (m: NativeMessage) => m.metrics?.charging_state === 'charging';
  const moving = (m: NativeMessage) => Number(m.metrics?.speed_kmh ?? 0) > 0;

  expect(parked!.some(charging)).toBe(false);
  expect(parked!.some(moving)).toBe(false);
  expect(parked!.every((m) => Number(m.metrics?.charger_power_kw ?? 0) === 0)).toBe(true);

  expect(charger!.some(moving)).toBe(false);
  expect(charging(charger![0]!)).toBe(true);
  // It charges to its limit and then stays plugged in, complete, with no power.
  expect(charger!.at(-1)!.metrics?.charging_state).toBe('complete');
  expect(charger!.at(-1)!.metrics?.battery_level_pct).toBe(80);

  expect(city!.slice(0, 60).some(moving)).toBe(true);
  expect(city!.some((m) => m.metrics?.gear === 'P')).toBe(true);
  expect(city!.filter((m) => m.metrics?.gear === 'D').length).toBeGreaterThan(600);

  // Every message carries VinFast device keys mirroring its metrics.
  for (const m of [city![10]!, charger![10]!, parked![10]!]) {
    expect(m.raw?.['34183_00001_00009']).toBe(m.metrics?.battery_level_pct);
    expect(Object.keys(m.raw ?? {}).length).toBeGreaterThanOrEqual(4);
  }
});

it('the demo produces sessions: the city run records drives, the one at the charger a charge, the parked one none', () => {
  const sessionsOf = (messages: NativeMessage[]) => {
    let state = initialDetectorState();
    const events: DetectorEvent[] = [];
    for (const m of messages) {
      const out = detect(state, {
        tsMs: Number(m.ts),
        metrics: m.metrics ?? {},
        ...(m.position ? { position: m.position } : {}),
      });
      state = out.state;
      events.push(...out.events);
    }
    return events
      .filter((e) => e.type === 'started')
      .map((e) => (e.type === 'started' ? e.session.kind : ''));
  };
  const [city, charger, parked] = [0, 1, 2].map(twoHours);
  expect(sessionsOf(city!).filter((kind) => kind === 'drive').length).toBeGreaterThanOrEqual(2);
  expect(sessionsOf(charger!)).toEqual(['charge']);
  expect(sessionsOf(parked!)).toEqual([]);
});
