import { readFileSync, statSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { Storage } from '../../db/index.js';
import { freshStorage } from '../../test/storage.js';
import { DERIVED_MARK_KEY } from './derived-buffer.js';
import { type PackedBatch, packBatch } from './packed-batch.js';
import { type BatchSample, VEHICLE_MISSING } from './sample-batch.js';
import { createSampleWriter, type SampleWriter } from './sample-writer.js';
import { isTransientStorageError } from './storage-errors.js';
import { insertVehicle, testVin } from './test-fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 12);

/** The SQLite writer thread on its own (the pipeline tests cover it end to end). */
describe('SQLite writer thread', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  // State and rollups are written when asked (flushDerived, close) or after a minute: never by surprise.
  const asked = { flushIdleMs: 60_000, flushAfterMs: 60_000 };

  async function setup() {
    const storage = await freshStorage('sqlite');
    const writer = createSampleWriter(storage, asked);
    cleanup.push(
      () => storage.drop(),
      () => writer.close(),
    );
    const vehicleId = await insertVehicle(storage.db, testVin(1));
    const sample = (tsMs: number, vehicle = vehicleId) => ({
      vehicleId: vehicle,
      tsMs,
      seq: 0,
      receivedMs: tsMs,
      source: 'test',
      metrics: { speed_kmh: 5 },
    });
    const batch = (...samples: BatchSample[]): PackedBatch => packBatch({ samples, deadLetters: [] });
    const stored = async () =>
      (await storage.db.selectFrom('samples').select('ts_ms').orderBy('ts_ms').execute()).map((r) => r.ts_ms);
    return { storage, writer, sample, batch, stored, vehicleId };
  }

  const threadOf = (writer: SampleWriter) => (writer as unknown as { worker: Worker | null }).worker;

  it('starts a new thread when its thread dies; a batch caught in it fails as an outage, then lands once', async () => {
    const { writer, sample, batch, stored } = await setup();
    expect(await writer.write(batch(sample(T0)))).toEqual([true]);
    const thread = threadOf(writer);
    expect(thread).not.toBeNull();

    const caught = writer.write(batch(sample(T0 + 1))).then(
      (inserted) => ({ inserted }),
      (error: Error & { code?: string }) => ({ error }),
    );
    await thread!.terminate();
    const outcome = await caught;
    // Either the batch committed before the thread went, or it failed the way an outage does (no code:
    // the pipeline retries it).
    if ('error' in outcome) {
      expect(outcome.error.message).toMatch(/writer thread/);
      expect(outcome.error.code).toBeUndefined();
    }

    // The next write gets a new thread; the retried batch is stored once whatever happened before.
    expect(await writer.write(batch(sample(T0 + 2)))).toEqual([true]);
    expect(threadOf(writer)).not.toBe(thread);
    const retried = await writer.write(batch(sample(T0 + 1)));
    // A batch that committed just before the thread went, its reply lost, is a duplicate now.
    if (!('error' in outcome)) expect(retried).toEqual([false]);
    expect(await stored()).toEqual([T0, T0 + 1, T0 + 2]);
  });

  it('keeps the code of an error the database raises, and writes nothing of that batch', async () => {
    const { writer, sample, batch, stored } = await setup();
    // samples.source is NOT NULL.
    const refused = batch({ ...sample(T0), source: null as unknown as string });
    await expect(writer.write(refused)).rejects.toMatchObject({
      code: expect.stringMatching(/^SQLITE_CONSTRAINT/),
    });
    expect(await stored()).toEqual([]);
    expect(await writer.write(batch(sample(T0)))).toEqual([true]);
  });

  it('refuses a batch holding a sample of a vehicle that does not exist, as bad data', async () => {
    const { writer, sample, batch, stored } = await setup();
    const refused = writer.write(batch(sample(T0), sample(T0 + 1, 'gone')));
    await expect(refused).rejects.toMatchObject({ code: VEHICLE_MISSING });
    await refused.catch((error) => expect(isTransientStorageError(error)).toBe(false));
    expect(await stored()).toEqual([]);
  });

  it('writes state and rollups when asked (and before it stops), not with every batch', async () => {
    const { storage, writer, sample, batch } = await setup();
    for (let i = 0; i < 5; i++) await writer.write(batch(sample(T0 + i * 1000)));
    expect(await derivedRows(storage)).toEqual({ state: [], minute: [], mark: [expect.any(String)] });
    await writer.flushDerived();
    expect(await derivedRows(storage)).toEqual({
      state: [{ metric: 'speed_kmh', ts_ms: T0 + 4000 }],
      minute: [{ count: 5, sum: 25 }],
      mark: [],
    });
    await writer.write(batch(sample(T0 + 5000)));
    await writer.close();
    expect((await derivedRows(storage)).minute).toEqual([{ count: 6, sum: 30 }]);
  });

  it('counts a long run of one vehicle (folded before it crosses) once, without its duplicates', async () => {
    const { storage, writer, vehicleId } = await setup();
    // 200 samples a second apart from T0 (a minute boundary): speeds 1 each, then 10 each. The second
    // batch repeats the last 100 of the first with other values: those are duplicates, not counted.
    const run = (from: number, speed: number): PackedBatch =>
      packBatch({
        samples: Array.from({ length: 200 }, (_, i) => ({
          vehicleId,
          tsMs: T0 + (from + i) * 1000,
          seq: 0,
          receivedMs: T0,
          source: 'test',
          metrics: { speed_kmh: speed },
        })),
        deadLetters: [],
      });
    const first = await writer.write(run(0, 1));
    expect(first.every(Boolean)).toBe(true);
    const second = await writer.write(run(100, 10));
    expect(second.filter(Boolean)).toHaveLength(100);
    await writer.flushDerived();
    const minute = await storage.db
      .selectFrom('rollups_minute')
      .select(['count', 'sum'])
      .orderBy('bucket_ms')
      .execute();
    const totals = minute.reduce((t, r) => ({ count: t.count + Number(r.count), sum: t.sum + r.sum }), {
      count: 0,
      sum: 0,
    });
    expect(totals).toEqual({ count: 300, sum: 200 * 1 + 100 * 10 });
    expect((await derivedRows(storage)).state).toEqual([{ metric: 'speed_kmh', ts_ms: T0 + 299_000 }]);
  });

  it('catches up by itself once no batch comes', async () => {
    const { storage, sample, batch } = await setup();
    const writer = createSampleWriter(storage);
    cleanup.push(() => writer.close());
    await writer.write(batch(sample(T0)));
    for (let i = 0; i < 100 && (await derivedRows(storage)).mark.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await derivedRows(storage)).toEqual({
      state: [{ metric: 'speed_kmh', ts_ms: T0 }],
      minute: [{ count: 1, sum: 5 }],
      mark: [],
    });
  });

  it('after a crash, a new thread writes the state and rollups the dead one still owed, each sample once', async () => {
    const { storage, writer, sample, batch } = await setup();
    await writer.write(batch(sample(T0)));
    await writer.flushDerived();
    for (let i = 1; i < 4; i++) await writer.write(batch(sample(T0 + i * 1000)));
    // Killed without flushing: three samples are stored, their derived rows only owed.
    await threadOf(writer)!.terminate();
    expect((await derivedRows(storage)).minute).toEqual([{ count: 1, sum: 5 }]);

    // A reader asking first gets a new thread, which writes what the dead one owed, once.
    await writer.flushDerived();
    expect(await derivedRows(storage)).toEqual({
      state: [{ metric: 'speed_kmh', ts_ms: T0 + 3000 }],
      minute: [{ count: 4, sum: 20 }],
      mark: [],
    });
    await threadOf(writer)!.terminate();

    // So does the next batch, on a writer of its own (a restarted server).
    await writer.write(batch(sample(T0 + 4000)));
    await threadOf(writer)!.terminate();
    const next = createSampleWriter(storage, asked);
    cleanup.push(() => next.close());
    await next.write(batch(sample(T0 + 5000)));
    await next.flushDerived();
    expect(await derivedRows(storage)).toEqual({
      state: [{ metric: 'speed_kmh', ts_ms: T0 + 5000 }],
      minute: [{ count: 6, sum: 30 }],
      mark: [],
    });
  });

  it('copies the WAL back into the database file beside the writer, so the WAL starts over instead of growing', async () => {
    const { storage, writer, sample, batch } = await setup();
    const walBytes = () => statSync(`${storage.file}-wal`).size;
    // 20 commits of 50 samples: each rewrites its pages into the WAL.
    const commits = async (from: number) => {
      for (let b = 0; b < 20; b++)
        await writer.write(batch(...Array.from({ length: 50 }, (_, i) => sample(from + b * 50 + i))));
    };
    await commits(T0);
    const afterFirst = walBytes();
    // Far below SQLite's own checkpoint threshold (db/sqlite.ts): only the checkpointer thread copies it.
    expect(afterFirst).toBeLessThan(16_000 * 4096);
    // Wait until the checkpointer has copied it: the next commit then restarts the WAL from its start, under
    // a new salt in its header (SQLite's file format, "WAL File Format").
    const salt = () => readFileSync(`${storage.file}-wal`).subarray(16, 24).toString('hex');
    const before = salt();
    for (let i = 0; salt() === before; i++) {
      if (i >= 1500) throw new Error('the WAL was not checkpointed within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await writer.write(batch(sample(T0 + 500_000 + i)));
    }
    await commits(T0 + 1_000_000);
    // Copied meanwhile, the WAL was written again from its start (same size); else it held both rounds (~1.6×).
    expect(walBytes()).toBeLessThan(afterFirst * 1.25);
  });

  it('drops what it owes a vehicle deleted meanwhile', async () => {
    const { storage, writer, sample, batch } = await setup();
    const other = await insertVehicle(storage.db, testVin(2));
    await writer.write(batch(sample(T0)));
    await writer.write(batch(sample(T0, other)));
    await storage.db.deleteFrom('samples').where('vehicle_id', '=', other).execute();
    await storage.db.deleteFrom('vehicles').where('id', '=', other).execute();
    await writer.flushDerived();
    const state = await storage.db.selectFrom('vehicle_state').select('vehicle_id').execute();
    expect(state.map((r) => r.vehicle_id)).not.toContain(other);
    expect((await derivedRows(storage)).minute).toEqual([{ count: 1, sum: 5 }]);
  });
});

async function derivedRows(storage: Storage) {
  const state = await storage.db.selectFrom('vehicle_state').select(['metric', 'ts_ms']).execute();
  const minute = await storage.db.selectFrom('rollups_minute').select(['count', 'sum']).execute();
  const mark = await storage.db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', DERIVED_MARK_KEY)
    .execute();
  return {
    state,
    minute: minute.map((r) => ({ count: Number(r.count), sum: r.sum })),
    mark: mark.map((r) => r.value),
  };
}
