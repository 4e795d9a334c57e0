/**
 * The SQLite writer thread: its own connection to the database file, one transaction per batch the main
 * thread posts, one reply per batch after commit (see sample-writer.ts). `vehicle_state` and the rollups
 * are written from memory once no batch came for `flushIdleMs`, at the latest `flushAfterMs` after the
 * first batch that owed them, before any read of them, and when the thread stops (derived-buffer.ts).
 * Only this thread inserts samples into a SQLite file: anything else that stores samples must go through
 * the ingest pipeline, or the crash recovery of derived rows would miscount.
 * Loaded by file name, so it imports only what a batch needs.
 */
import { parentPort, type Worker, workerData } from 'node:worker_threads';
import { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { openSqliteFile, sqliteDialect } from '../../db/sqlite.js';
import { startWorker } from '../../lib/worker.js';
import { DerivedBuffer, type FoldedSamples, foldSamples } from './derived-buffer.js';
import { type PackedBatch, rowParams, sampleAt } from './packed-batch.js';
import { type BatchSample, requireVehicles, storeBesideSamples } from './sample-batch.js';
import type { WriteReply, WriteRequest, WriterThreadData } from './sample-writer.js';
import { SAMPLE_COLUMNS } from './telemetry.repo.js';

const { file, flushIdleMs, flushAfterMs } = workerData as WriterThreadData;
/** Derived rows pending (state rows and buckets) that make the writer flush at once. */
const FLUSH_ROWS = 50_000;

const port = parentPort;
if (!port) throw new Error('sample-writer.worker must run in a worker thread');
const native = openSqliteFile(file);
// The pages every batch touches (each vehicle's newest index leaves, the current rollup and state rows)
// outgrow SQLite's default 2 MB cache once the database holds millions of samples.
native.pragma('cache_size = -16384');
const db = new Kysely<Database>({ dialect: sqliteDialect(native) });
const derived = new DerivedBuffer();

/**
 * Copies committed pages into the database file beside this thread (wal-checkpointer.worker.ts), told
 * after each commit. Should it fail, SQLite's own checkpoints in this thread's commits take over.
 */
let checkpointer: Worker | null = startWorker(new URL('./wal-checkpointer.worker.js', import.meta.url), {
  workerData: { file },
});
checkpointer.unref();
checkpointer.on('error', () => {
  checkpointer = null;
});
const wrote = () => checkpointer?.postMessage(0);

/**
 * Samples go in through one prepared single-row statement each, on the same connection and so in the
 * same transaction as the rest of the batch: with no round trip to save, 1,000 small runs that each
 * report `changes` (0 = stored before, or earlier in this batch) cost half of one 12,000-parameter
 * statement with RETURNING rows. The smallest rowid inserted is kept for the derived rows' crash mark.
 */
const insertOne = native.prepare(
  `insert into samples (${SAMPLE_COLUMNS.join(', ')}) values (${SAMPLE_COLUMNS.map(() => '?').join(', ')}) on conflict do nothing`,
);
const params: unknown[] = new Array(SAMPLE_COLUMNS.length);

async function writeBatch(batch: PackedBatch): Promise<boolean[]> {
  let mark: number | null = null;
  const { inserted, folds, any } = await db.transaction().execute(async (trx) => {
    const vehicles = new Set<string>();
    for (const part of batch.parts) for (const id of part.vehicles) vehicles.add(id);
    await requireVehicles(trx, vehicles);
    const inserted: boolean[] = [];
    let minRowid: number | null = null;
    // What the derived rows and `raw_keys` need: a part's own fold when all of it was inserted (its
    // samples with raw values then read back only for `raw_keys`), else its inserted samples read back.
    const folds: FoldedSamples[] = [];
    const unfolded: BatchSample[] = [];
    const withRaw: BatchSample[] = [];
    for (const part of batch.parts) {
      const from = inserted.length;
      let all = true;
      for (let i = 0; i < part.count; i++) {
        rowParams(part, i, params);
        const result = insertOne.run(params);
        // 0 changes: stored before, or earlier in this batch.
        const isNew = result.changes === 1;
        inserted.push(isNew);
        if (!isNew) {
          all = false;
          continue;
        }
        const rowid = Number(result.lastInsertRowid);
        if (minRowid === null || rowid < minRowid) minRowid = rowid;
      }
      if (all && part.folded) {
        folds.push(part.folded);
        for (const r of part.raw) withRaw.push(sampleAt(part, r.index));
      } else {
        for (let i = 0; i < part.count; i++) if (inserted[from + i]) unfolded.push(sampleAt(part, i));
      }
    }
    if (unfolded.length > 0) folds.push(foldSamples(unfolded));
    await storeBesideSamples(trx, withRaw.length > 0 ? [...unfolded, ...withRaw] : unfolded, batch);
    if (minRowid !== null) mark = await derived.markOwed(trx, minRowid);
    return { inserted, folds, any: minRowid !== null };
  });
  wrote();
  derived.committed(folds, mark);
  if (derived.size >= FLUSH_ROWS) flushSoon();
  else if (any) flushLater();
  return inserted;
}

/** Writes the derived rows owed so far, in a transaction of their own. */
async function flush(): Promise<void> {
  for (const timer of [idleTimer, dueTimer]) if (timer) clearTimeout(timer);
  idleTimer = dueTimer = null;
  await db.transaction().execute((trx) => derived.write(trx));
  wrote();
  derived.flushed();
}

let idleTimer: NodeJS.Timeout | null = null;
let dueTimer: NodeJS.Timeout | null = null;
/** Should a flush fail (the database is locked), the rows stay owed and the next batch sets new timers. */
const flushSoon = () => enqueue(() => flush().catch(() => {}));
function flushLater(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(flushSoon, flushIdleMs);
  dueTimer ??= setTimeout(flushSoon, flushAfterMs);
}

async function handle(request: WriteRequest): Promise<WriteReply> {
  try {
    if ('batch' in request) return { id: request.id, inserted: await writeBatch(request.batch) };
    await flush();
    return { id: request.id, inserted: [] };
  } catch (error) {
    const e = error as { message?: unknown; code?: unknown };
    return {
      id: request.id,
      error: {
        message: String(e?.message ?? error),
        ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      },
    };
  }
}

// One job at a time, in the order they came. The first folds back in what a previous thread left owed;
// if it cannot, the thread fails (the main thread fails its batches as an outage and starts a new one):
// writing batches without knowing the mark could move it past samples still owed.
let previous: Promise<unknown> = derived.recover(db).then(
  (owed) => {
    if (owed > 0) flushLater();
  },
  (error: unknown) => {
    // Thrown outside the chain: the main thread gets it as the thread's 'error' and logs the cause.
    setImmediate(() => {
      throw error;
    });
    return new Promise(() => {});
  },
);
function enqueue(job: () => Promise<unknown>): void {
  previous = previous.then(job, job);
}
port.on('message', (request: WriteRequest) => {
  // More is coming: not idle.
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  enqueue(async () => port.postMessage(await handle(request)));
});
