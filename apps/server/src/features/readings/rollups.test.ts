import { expect, it } from 'vitest';
import { describeEngines } from '../../test/storage.js';
import { aggregate, HOUR_MS, MINUTE_MS, writeRollups } from '../telemetry/rollups.js';
import { lttb } from './lttb.js';
import { readRollups } from './rollups.repo.js';

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

describeEngines('rollups', (ctx) => {
  it('aggregates min, max (with their times), sum, count, first and last per minute and hour', async () => {
    const { db } = ctx.storage;
    await writeRollups(db, [
      { vehicleId: 'v1', tsMs: T0 + 1000, metrics: { speed_kmh: 10, gear: 'D', ignition: true } },
      { vehicleId: 'v1', tsMs: T0 + 2000, metrics: '{"speed_kmh":30}' },
      { vehicleId: 'v1', tsMs: T0 + 3000, metrics: { speed_kmh: 5 } },
      { vehicleId: 'v1', tsMs: T0 + MINUTE_MS, metrics: { speed_kmh: 50 } },
    ]);
    const minute = await readRollups(db, 'minute', 'v1', 'speed_kmh', T0, T0 + HOUR_MS);
    expect(minute).toHaveLength(2);
    expect(minute[0]).toMatchObject({
      bucket_ms: T0,
      count: 3,
      sum: 45,
      min_value: 5,
      min_ts_ms: T0 + 3000,
      max_value: 30,
      max_ts_ms: T0 + 2000,
      first_value: 10,
      first_ts_ms: T0 + 1000,
      last_value: 5,
      last_ts_ms: T0 + 3000,
    });
    const hour = await readRollups(db, 'hour', 'v1', 'speed_kmh', T0, T0 + HOUR_MS);
    expect(hour).toMatchObject([
      { bucket_ms: T0, count: 4, sum: 95, min_value: 5, max_value: 50, last_value: 50 },
    ]);
    // Booleans count as 0/1; strings have no aggregate.
    expect(await readRollups(db, 'minute', 'v1', 'ignition', T0, T0 + HOUR_MS)).toMatchObject([
      { max_value: 1 },
    ]);
    expect(await readRollups(db, 'minute', 'v1', 'gear', T0, T0 + HOUR_MS)).toEqual([]);
  });

  it('merges later batches into existing buckets, including ones that arrive out of order', async () => {
    const { db } = ctx.storage;
    await writeRollups(db, [{ vehicleId: 'v1', tsMs: T0 + 5000, metrics: { range_km: 100 } }]);
    await writeRollups(db, [
      { vehicleId: 'v1', tsMs: T0 + 1000, metrics: { range_km: 120 } },
      { vehicleId: 'v1', tsMs: T0 + 9000, metrics: { range_km: 90 } },
    ]);
    await writeRollups(db, [{ vehicleId: 'v2', tsMs: T0 + 1000, metrics: { range_km: 1 } }]);
    const [b] = await readRollups(db, 'minute', 'v1', 'range_km', T0, T0 + MINUTE_MS);
    expect(b).toMatchObject({
      count: 3,
      sum: 310,
      min_value: 90,
      min_ts_ms: T0 + 9000,
      max_value: 120,
      max_ts_ms: T0 + 1000,
      first_value: 120,
      first_ts_ms: T0 + 1000,
      last_value: 90,
      last_ts_ms: T0 + 9000,
    });
  });

  it('writes thousands of buckets in one call (chunked under the parameter limit)', async () => {
    const { db } = ctx.storage;
    const samples = Array.from({ length: 3000 }, (_, i) => ({
      vehicleId: 'v1',
      tsMs: T0 + i * MINUTE_MS,
      metrics: { speed_kmh: i },
    }));
    await writeRollups(db, samples);
    const minute = await readRollups(db, 'minute', 'v1', 'speed_kmh', T0, T0 + 3000 * MINUTE_MS);
    expect(minute).toHaveLength(3000);
    const hour = await readRollups(db, 'hour', 'v1', 'speed_kmh', T0, T0 + 3000 * MINUTE_MS);
    expect(hour).toHaveLength(50);
    expect(hour.reduce((n, b) => n + b.count, 0)).toBe(3000);
  });
});

it('aggregate skips non-finite numbers', () => {
  const out = aggregate([{ vehicleId: 'v', tsMs: T0, metrics: { a: Number.NaN, b: 1 } }]);
  expect(out.minute.map((b) => b.metric)).toEqual(['b']);
});

it('aggregate puts each sample in its own vehicle and minute when runs interleave', () => {
  const at = (vehicleId: string, minute: number, v: number) => ({
    vehicleId,
    tsMs: T0 + minute * MINUTE_MS + v,
    metrics: { speed_kmh: v },
  });
  const out = aggregate([
    at('a', 0, 1),
    at('a', 0, 2),
    at('b', 0, 4),
    at('a', 1, 8),
    at('a', 0, 16),
    at('b', 61, 32),
  ]);
  const sums = (rows: typeof out.minute) =>
    Object.fromEntries(
      rows.map((b) => [`${b.vehicle_id}@${(b.bucket_ms - T0) / MINUTE_MS}`, [b.count, b.sum]]),
    );
  expect(sums(out.minute)).toEqual({ 'a@0': [3, 19], 'b@0': [1, 4], 'a@1': [1, 8], 'b@61': [1, 32] });
  expect(sums(out.hour)).toEqual({ 'a@0': [4, 27], 'b@0': [1, 4], 'b@60': [1, 32] });
});

it('lttb keeps the ends and a lone spike, and returns at most the threshold', () => {
  const t = Array.from({ length: 10_000 }, (_, i) => i);
  const v = t.map((i) => (i === 4321 ? 1000 : Math.sin(i / 100)));
  const out = lttb(t, v, 100);
  expect(out.t).toHaveLength(100);
  expect(out.t[0]).toBe(0);
  expect(out.t.at(-1)).toBe(9999);
  expect(out.v).toContain(1000);
  expect(lttb([1, 2], [3, 4], 10)).toEqual({ t: [1, 2], v: [3, 4] });
});
