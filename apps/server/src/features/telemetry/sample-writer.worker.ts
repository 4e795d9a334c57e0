/**
 * The SQLite writer thread: its own connection to the database file, one transaction per batch the main
 * thread posts, one reply per batch after commit (see sample-writer.ts). Loaded by file name, so it
 * imports only what a batch needs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { openSqliteFile, sqliteDialect } from '../../db/sqlite.js';
import { type InsertSamples, writeSampleBatch } from './sample-batch.js';
import type { WriteReply, WriteRequest } from './sample-writer.js';
import { SAMPLE_COLUMNS } from './telemetry.repo.js';

const port = parentPort;
if (!port) throw new Error('sample-writer.worker must run in a worker thread');
const native = openSqliteFile((workerData as { file: string }).file);
// The pages every batch touches (each vehicle's newest index leaves, the current rollup and state rows)
// outgrow SQLite's default 2 MB cache once the database holds millions of samples.
native.pragma('cache_size = -16384');
const db = new Kysely<Database>({ dialect: sqliteDialect(native) });

/**
 * Samples go in through one prepared single-row statement each, on the same connection and so in the
 * same transaction as the rest of the batch: with no round trip to save, 1,000 small runs that each
 * report `changes` (0 = stored before) cost half of one 12,000-parameter statement with RETURNING rows.
 */
const insertOne = native.prepare(
  `insert into samples (${SAMPLE_COLUMNS.join(', ')}) values (${SAMPLE_COLUMNS.map(() => '?').join(', ')}) on conflict do nothing`,
);
const insertEach: InsertSamples = async (_trx, rows) =>
  rows.map((row) => insertOne.run(SAMPLE_COLUMNS.map((c) => row[c])).changes === 1);

async function handle({ id, batch }: WriteRequest): Promise<WriteReply> {
  try {
    return {
      id,
      inserted: await db.transaction().execute((trx) => writeSampleBatch(trx, batch, insertEach)),
    };
  } catch (error) {
    const e = error as { message?: unknown; code?: unknown };
    return {
      id,
      error: {
        message: String(e?.message ?? error),
        ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      },
    };
  }
}

// One batch at a time, in the order they came.
let previous = Promise.resolve();
port.on('message', (request: WriteRequest) => {
  previous = previous.then(async () => port.postMessage(await handle(request)));
});
