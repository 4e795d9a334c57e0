import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { freshStorage } from '../../test/storage.js';
import type { SampleBatch } from './sample-batch.js';
import { createSampleWriter, type SampleWriter } from './sample-writer.js';
import { insertVehicle, testVin } from './test-fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 12);

/** The SQLite writer thread on its own (the pipeline tests cover it end to end). */
describe('SQLite writer thread', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup() {
    const storage = await freshStorage('sqlite');
    const writer = createSampleWriter(storage);
    cleanup.push(
      () => storage.drop(),
      () => writer.close(),
    );
    const vehicleId = await insertVehicle(storage.db, testVin(1));
    const batch = (tsMs: number, vehicle = vehicleId): SampleBatch => ({
      samples: [
        { vehicleId: vehicle, tsMs, seq: 0, receivedMs: tsMs, source: 'test', metrics: { speed_kmh: 5 } },
      ],
      deadLetters: [],
      deadLetterKeep: 100,
    });
    const stored = async () =>
      (await storage.db.selectFrom('samples').select('ts_ms').orderBy('ts_ms').execute()).map((r) => r.ts_ms);
    return { storage, writer, batch, stored };
  }

  const threadOf = (writer: SampleWriter) => (writer as unknown as { worker: Worker | null }).worker;

  it('starts a new thread when its thread dies; a batch caught in it fails as an outage, then lands once', async () => {
    const { writer, batch, stored } = await setup();
    expect(await writer.write(batch(T0))).toEqual([true]);
    const thread = threadOf(writer);
    expect(thread).not.toBeNull();

    const caught = writer.write(batch(T0 + 1)).then(
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
    expect(await writer.write(batch(T0 + 2))).toEqual([true]);
    expect(threadOf(writer)).not.toBe(thread);
    const retried = await writer.write(batch(T0 + 1));
    expect(retried).toEqual('error' in outcome ? [true] : [false]);
    expect(await stored()).toEqual([T0, T0 + 1, T0 + 2]);
  });

  it('keeps the code of an error the database raises, and writes nothing of that batch', async () => {
    const { writer, batch, stored } = await setup();
    // vehicle_state refers to vehicles: a sample of a vehicle that does not exist fails the batch.
    await expect(writer.write(batch(T0, 'no-such-vehicle'))).rejects.toMatchObject({
      code: expect.stringMatching(/^SQLITE_CONSTRAINT/),
    });
    expect(await stored()).toEqual([]);
    expect(await writer.write(batch(T0))).toEqual([true]);
  });
});
