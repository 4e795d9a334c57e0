import { afterEach, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { DEMO_VEHICLES } from './index.js';

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
});
