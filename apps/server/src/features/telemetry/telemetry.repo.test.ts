import { expect, it } from 'vitest';
import { describeEngines } from '../../test/storage.js';
import { insertSamples, type SampleRow, sampleKey } from './telemetry.repo.js';
import { insertVehicle, testVin } from './test-fixtures.js';

describeEngines('insertSamples', (ctx) => {
  it('stores any number of rows once, whatever chunks it splits them into, and reports the new ones', async () => {
    const vehicleId = await insertVehicle(ctx.storage.db, testVin(3));
    const row = (i: number): SampleRow => ({
      vehicle_id: vehicleId,
      ts_ms: 1_700_000_000_000 + i,
      seq: i % 3,
      received_ms: 1,
      source: 'test',
      metrics: JSON.stringify({ speed_kmh: i % 200 }),
      lat: i % 2 ? null : 48 + i / 1e5,
      lon: i % 2 ? null : 11,
      alt_m: null,
      heading_deg: null,
      speed_kmh: i % 200,
      accuracy_m: null,
    });
    const first = Array.from({ length: 1537 }, (_, i) => row(i));
    const stored = await ctx.storage.db.transaction().execute((trx) => insertSamples(trx, first));
    expect(stored.size).toBe(1537);
    // Half old, half new: only the new ones are reported.
    const second = Array.from({ length: 300 }, (_, i) => row(1400 + i));
    const again = await ctx.storage.db.transaction().execute((trx) => insertSamples(trx, second));
    expect([...again].sort()).toEqual(
      Array.from({ length: 163 }, (_, i) =>
        sampleKey(vehicleId, 1_700_000_000_000 + 1537 + i, (1537 + i) % 3),
      ).sort(),
    );
    const rows = await ctx.storage.db.selectFrom('samples').selectAll().orderBy('ts_ms').execute();
    expect(rows).toHaveLength(1700);
    expect(rows[2]).toMatchObject({ ts_ms: 1_700_000_000_002, seq: 2, lat: 48.00002, speed_kmh: 2 });
    expect(rows[1]).toMatchObject({ lat: null, metrics: '{"speed_kmh":1}' });
  });
});
