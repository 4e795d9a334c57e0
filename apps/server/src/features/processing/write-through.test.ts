import { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database, Db, Storage } from '../../db/index.js';
import { openSqliteFile, sqliteDialect } from '../../db/sqlite.js';
import { freshStorage } from '../../test/storage.js';
import { createSessionsProcessor, SESSIONS_PROCESSOR } from '../sessions/sessions.processor.js';
import { packBatch } from '../telemetry/packed-batch.js';
import type { BatchSample } from '../telemetry/sample-batch.js';
import { createSampleWriter, type SampleWriter } from '../telemetry/sample-writer.js';
import { insertVehicle, testVin } from '../telemetry/test-fixtures.js';
import { LocalPasses } from './runner.js';
import { derivedOutput, renameVehicles } from './test-fixtures.js';
import { WriteThrough } from './write-through.js';

const T0 = Date.UTC(2026, 5, 1, 8);
const logger = { error() {}, warn() {} };

describe('processing writes committed by the writer thread [sqlite]', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function database(): Promise<{ storage: Storage; writer: SampleWriter; vehicles: string[] }> {
    const storage = await freshStorage('sqlite');
    cleanup.push(() => storage.drop());
    const writer = createSampleWriter(storage, { processors: [SESSIONS_PROCESSOR] });
    cleanup.push(() => writer.close());
    const vehicles = [
      await insertVehicle(storage.db, testVin(1)),
      await insertVehicle(storage.db, testVin(2)),
    ];
    return { storage, writer, vehicles };
  }

  /** A connection of its own, as the processing thread has, and how many rows it ever changed. */
  function ownConnection(file: string): { db: Db; changes(): number } {
    const native = openSqliteFile(file);
    const db = new Kysely<Database>({ dialect: sqliteDialect(native) });
    cleanup.push(() => db.destroy());
    return {
      db,
      changes: () => (native.prepare('select total_changes() as n').get() as { n: number }).n,
    };
  }

  function through(file: string): WriteThrough {
    const w = new WriteThrough(file);
    cleanup.push(() => w.close());
    return w;
  }

  const stateRow = (vehicleId: string, processor: string) => ({
    processor,
    vehicle_id: vehicleId,
    state: '{}',
    pending: 0,
    attempts: 0,
    updated_ms: T0,
  });

  it('runs each round under a savepoint: a round that fails is undone alone and named, the others commit', async () => {
    const { storage, writer, vehicles } = await database();
    const [v1, v2] = vehicles as [string, string];
    // The writer thread starts with its first batch.
    const sample = {
      vehicleId: v1,
      tsMs: T0,
      seq: 0,
      receivedMs: T0,
      source: 'test',
      metrics: { speed_kmh: 1 },
    };
    await writer.write(packBatch({ samples: [sample], deadLetters: [] }));
    const w = through(storage.file as string);
    expect(await w.present()).toBe(true);
    const rounds = [
      await w.record(async (trx) => {
        await trx.insertInto('processing_state').values(stateRow(v1, 'a')).execute();
      }),
      await w.record(async (trx) => {
        await trx.insertInto('processing_state').values(stateRow(v2, 'a')).execute();
        // No such vehicle: the foreign key refuses it, and the row above goes with it.
        await trx.insertInto('processing_state').values(stateRow('no-such-vehicle', 'a')).execute();
      }),
      await w.record(async (trx) => {
        await trx.insertInto('processing_state').values(stateRow(v2, 'b')).execute();
      }),
    ];
    const outcome = await w.write(rounds);
    expect(outcome).not.toBe('busy');
    const errors = outcome as ReadonlyArray<string | null>;
    expect(errors[0]).toBeNull();
    expect(errors[1]).toMatch(/FOREIGN KEY/);
    expect(errors[2]).toBeNull();
    const rows = await storage.db
      .selectFrom('processing_state')
      .select(['processor', 'vehicle_id'])
      .orderBy('processor')
      .orderBy('vehicle_id')
      .execute();
    expect(rows).toEqual([
      { processor: 'a', vehicle_id: v1 },
      { processor: 'b', vehicle_id: v2 },
    ]);
  });

  it('refuses to record a write that reads (it would see no rows)', async () => {
    const { storage } = await database();
    const w = through(storage.file as string);
    await expect(
      w.record(async (trx) => {
        await trx.selectFrom('vehicles').select('id').execute();
      }),
    ).rejects.toThrow(/may not read/);
  });

  it('derives the same sessions while the passes’ own connection never writes', async () => {
    const handed = await database();
    const plain = await database();
    // The same vehicle ids in both, so the sessions' ids agree.
    await renameVehicles(plain.storage.db, plain.vehicles, handed.vehicles);
    const own = ownConnection(handed.storage.file as string);
    const processor = createSessionsProcessor();
    const passesHanded = new LocalPasses(
      {
        storage: { db: own.db, engine: 'sqlite' },
        logger,
        processors: [processor],
        writeThrough: through(handed.storage.file as string),
      },
      { chunk: 5000, duty: 1, groupCommit: true, sharedSnapshot: true },
    );
    const passesPlain = new LocalPasses({ storage: plain.storage, logger, processors: [processor] });

    const [v1, v2] = handed.vehicles as [string, string];
    const drive = (vehicle: string, from: number, n: number, odo: number): BatchSample[] =>
      Array.from({ length: n }, (_, i) => ({
        vehicleId: vehicle,
        tsMs: T0 + (from + i * 20) * 1000,
        seq: 0,
        receivedMs: T0,
        source: 'test',
        metrics: {
          gear: i < n - 1 ? 'D' : 'P',
          speed_kmh: i < n - 1 ? 40 : 0,
          odometer_km: odo + i * 0.2,
        },
        position: { lat: 48 + i / 1e4, lon: 11 + i / 1e4 },
      }));
    const batches = [
      [...drive(v1, 0, 10, 100), ...drive(v2, 0, 5, 500)],
      drive(v1, 3600, 12, 110),
      drive(v1, 1000, 8, 105), // late: before the cursor, the round rewinds
      drive(v2, 7200, 12, 520),
    ];
    for (const batch of batches) {
      await handed.writer.write(packBatch({ samples: batch, deadLetters: [] }));
      await plain.writer.write(packBatch({ samples: batch, deadLetters: [] }));
      const now = T0 + 86_400_000;
      await passesHanded.pass(now);
      await passesPlain.pass(now);
      expect(await derivedOutput(handed.storage.db)).toEqual(await derivedOutput(plain.storage.db));
    }
    const result = await derivedOutput(handed.storage.db);
    expect(result.marks).toBe(0);
    expect(result.sessions.filter((s) => s.kind === 'drive').length).toBeGreaterThanOrEqual(3);
    expect(own.changes()).toBe(0);
  });

  it('commits on its own connection when no writer thread answers', async () => {
    const storage = await freshStorage('sqlite');
    cleanup.push(() => storage.drop());
    expect(await through(storage.file as string).present()).toBe(false);
  });
});
