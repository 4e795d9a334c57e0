import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engines, freshStorage } from '../test/storage.js';
import type { Storage } from './index.js';
import { samplePages } from './sample-pages.js';

for (const engine of engines) {
  describe(`samplePages [${engine}]`, () => {
    let storage: Storage & { drop(): Promise<void> };
    beforeEach(async () => {
      storage = await freshStorage(engine);
      const now = Date.UTC(2026, 0, 1);
      await storage.db
        .insertInto('users')
        .values({
          id: 'u',
          email: 'u@example.test',
          name: 'u',
          password_hash: null,
          role: 'operator',
          disabled_ms: null,
          tokens_valid_after_ms: 0,
          created_ms: now,
          updated_ms: now,
        })
        .execute();
      for (const id of ['v', 'w'])
        await storage.db
          .insertInto('vehicles')
          .values({
            id,
            vin: `VIN${id}`,
            name: id,
            make: null,
            model: null,
            year: null,
            owner_id: 'u',
            created_ms: now,
            updated_ms: now,
          })
          .execute();
    });
    afterEach(async () => {
      await storage?.drop();
    });

    it('reads every sample of a range once, in (time, seq) order, across gaps, dense runs and equal times', async () => {
      const t0 = Date.UTC(2025, 5, 1);
      const times: Array<[number, number]> = [];
      // A dense minute at 10 Hz with two seqs each, a 40-day gap, a sparse day, and another vehicle's rows.
      for (let i = 0; i < 600; i++) times.push([t0 + i * 100, 0], [t0 + i * 100, 1]);
      for (let i = 0; i < 24; i++) times.push([t0 + 40 * 86_400_000 + i * 3_600_000, 0]);
      const row = (vehicle: string, [ts, seq]: [number, number]) => ({
        vehicle_id: vehicle,
        ts_ms: ts,
        seq,
        received_ms: ts,
        source: 'test',
        metrics: '{}',
        lat: null,
        lon: null,
        alt_m: null,
        heading_deg: null,
        speed_kmh: null,
        accuracy_m: null,
      });
      for (let i = 0; i < times.length; i += 200)
        await storage.db
          .insertInto('samples')
          .values(times.slice(i, i + 200).map((t) => row('v', t)))
          .execute();
      await storage.db
        .insertInto('samples')
        .values([row('w', [t0 + 50, 0])])
        .execute();

      const read = async (from: number, to: number, pageRows: number) => {
        const out: Array<[number, number]> = [];
        for await (const page of samplePages(storage.db, 'v', from, to, pageRows)) {
          expect(page.length).toBeLessThanOrEqual(pageRows);
          for (const r of page) out.push([Number(r.ts_ms), Number(r.seq)]);
        }
        return out;
      };
      expect(await read(0, t0 + 365 * 86_400_000, 7)).toEqual(times);
      expect(await read(0, Date.UTC(2030, 0, 1), 1000)).toEqual(times);
      const inner = times.filter(([ts]) => ts >= t0 + 30_000 && ts <= t0 + 40 * 86_400_000);
      expect(await read(t0 + 30_000, t0 + 40 * 86_400_000, 13)).toEqual(inner);
      expect(await read(t0 + 61_000, t0 + 86_400_000, 5)).toEqual([]);
    });
  });
}
