/**
 * The SQLite writer thread: its own connection to the database file, one transaction per batch the main
 * thread posts, one reply per batch after commit (see sample-writer.ts). `vehicle_state` and the rollups
 * are written from memory once no batch came for `flushIdleMs`, at the latest `flushAfterMs` after the
 * first batch that owed them, before any read of them, and when the thread stops (derived-buffer.ts).
 * Only this thread inserts samples into a SQLite file: anything else that stores samples must go through
 * the ingest pipeline, or the crash recovery of derived rows would miscount.
 * Loaded by file name, so it imports only what a batch needs.
 */
import { BroadcastChannel, parentPort, type Worker, workerData } from 'node:worker_threads';
import { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { openSqliteFile, sqliteDialect } from '../../db/sqlite.js';
import { startWorker } from '../../lib/worker.js';
import { type CommittedBatch, committedChannelName } from '../processing/committed-tail.js';
import { MARK_GATES } from '../processing/marks.js';
import { runRecordedRounds, serveProcessingWrites } from '../processing/write-through.js';
import { pruneDeadLetters } from './dead-letters.repo.js';
import { DerivedBuffer } from './derived-buffer.js';
import {
  metricsAt,
  type PackedBatch,
  type PackedSamples,
  positionAt,
  rowParams,
  sampleAt,
  seqAt,
  tsAt,
} from './packed-batch.js';
import { type BatchSample, requireVehicles, storeBesideSamples } from './sample-batch.js';
import type { WriteReply, WriteRequest, WriterThreadData } from './sample-writer.js';
import { SAMPLE_COLUMNS } from './telemetry.repo.js';

const { file, flushIdleMs, flushAfterMs, processors } = workerData as WriterThreadData;
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
 * Each batch's stored samples go to the processing thread once committed, with their marks, so it need
 * not read them back (processing/committed-tail.ts, decision 0029). Nobody listening costs a copy.
 */
const committed = processors.length > 0 ? new BroadcastChannel(committedChannelName(file)) : null;
committed?.unref();

/**
 * The processing thread's commits run here, between batches (decision 0032): one writer on the file, so
 * neither thread sleeps in SQLite's busy handler waiting for the other. Without fsync of their own, as
 * the processing thread's own commits were: the next batch's commit syncs the WAL they are in.
 */
if (processors.length > 0)
  serveProcessingWrites(
    file,
    (rounds) =>
      new Promise((resolve, reject) =>
        enqueue(async () => {
          native.pragma('synchronous = NORMAL');
          try {
            resolve(await runRecordedRounds(db, rounds));
            wrote();
          } catch (error) {
            reject(error);
          } finally {
            native.pragma('synchronous = FULL');
          }
        }),
      ),
  );

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
const insertMark = native.prepare(
  'insert into processing_marks (processor, vehicle_id, low_ts_ms, high_ts_ms, marked_ms) values (?, ?, ?, ?, ?)',
);
const foldIntoMark = native.prepare(
  'update processing_marks set batches = batches + 1, high_ts_ms = ? where id = ? and batches = ?',
);
const newestStored = native.prepare('select max(ts_ms) from samples where vehicle_id = ?').pluck();

/**
 * Fewer marks (decision 0033): at 10,000 messages a second from 100 vehicles a batch holds about one
 * sample per vehicle, and a mark per vehicle per batch wrote as many rows as the samples (each in another
 * page of the marks index). A vehicle's batch whose samples all lie after every sample stored for it is
 * folded into the vehicle's newest mark while that mark is unconsumed: its `batches` count grows, so a
 * round that read the mark before this batch committed leaves it in place (runner.ts `consumeMarks`).
 * Late or overlapping data always gets a mark of its own, so a folded batch never hides late data.
 * Both maps are this thread's knowledge only: emptied on any failed batch, and empty in a new thread,
 * where each vehicle's first batch gets a new mark and the newest stored time is read once.
 */
const newestMark = new Map<string, { id: number; batches: number }>();
const storedHigh = new Map<string, number>();
/** Each processor and, if it has one, the statement saying whether it wants marks now (processing/marks.ts). */
const gates = processors.map((processor) => {
  const gate = MARK_GATES[processor];
  return { processor, wants: gate === undefined ? null : native.prepare(gate) };
});

/**
 * One batch in one transaction. Returns each sample's flag (inserted or a duplicate) and what to do once
 * the reply is sent: fold what was inserted into the derived rows owed, which no sender waits for.
 */
async function writeBatch(batch: PackedBatch): Promise<{ inserted: boolean[]; fold: () => void }> {
  let mark: number | null = null;
  const inserted: boolean[] = [];
  // For the processing thread: per vehicle, where its stored samples are in the batch, and its marks.
  const stored = new Map<string, number[]>();
  const marks = new Map<string, Array<[string, number, number]>>();
  const any = await db.transaction().execute(async (trx) => {
    const vehicles = new Set<string>();
    for (const part of batch.parts) for (const id of part.vehicles) vehicles.add(id);
    await requireVehicles(trx, vehicles);
    let minRowid: number | null = null;
    // Raw device values are rare: only their samples are read back, for `raw_keys`.
    const withRaw: BatchSample[] = [];
    // Per vehicle, the oldest and newest device time stored: the after-commit processors' marks (decision
    // 0017).
    const lows = new Map<string, number>();
    const highs = new Map<string, number>();
    for (let p = 0; p < batch.parts.length; p++) {
      const part = batch.parts[p]!;
      const from = inserted.length;
      let low: Float64Array | null = null;
      let high: Float64Array | null = null;
      for (let i = 0; i < part.count; i++) {
        rowParams(part, i, params);
        const result = insertOne.run(params);
        // 0 changes: stored before, or earlier in this batch.
        const isNew = result.changes === 1;
        inserted.push(isNew);
        if (!isNew) continue;
        const rowid = Number(result.lastInsertRowid);
        if (minRowid === null || rowid < minRowid) minRowid = rowid;
        if (processors.length > 0) {
          low ??= new Float64Array(part.vehicles.length).fill(Number.POSITIVE_INFINITY);
          high ??= new Float64Array(part.vehicles.length).fill(Number.NEGATIVE_INFINITY);
          const v = part.vehicle[i]!;
          const ts = tsAt(part, i);
          if (ts < low[v]!) low[v] = ts;
          if (ts > high[v]!) high[v] = ts;
          const id = part.vehicles[v]!;
          const list = stored.get(id);
          if (list) list.push(p, i);
          else stored.set(id, [p, i]);
        }
      }
      if (low && high) {
        for (let v = 0; v < low.length; v++) {
          if (low[v] === Number.POSITIVE_INFINITY) continue;
          const id = part.vehicles[v]!;
          const known = lows.get(id);
          if (known === undefined || low[v]! < known) lows.set(id, low[v]!);
          const knownHigh = highs.get(id);
          if (knownHigh === undefined || high[v]! > knownHigh) highs.set(id, high[v]!);
        }
      }
      for (const r of part.raw) if (inserted[from + r.index]) withRaw.push(sampleAt(part, r.index));
    }
    const markedMs = Date.now();
    const marking =
      lows.size === 0 ? [] : gates.filter(({ wants }) => wants === null || wants.get() !== undefined);
    for (const [vehicleId, low] of lows) {
      const high = highs.get(vehicleId)!;
      // Every sample stored for the vehicle before this batch is older than this batch's oldest.
      const before = storedHigh.get(vehicleId);
      const after = before !== undefined && low > before;
      for (const { processor } of marking) {
        const key = `${processor}\0${vehicleId}`;
        const newest = newestMark.get(key);
        let mark: { id: number; batches: number };
        if (after && newest && foldIntoMark.run(high, newest.id, newest.batches).changes === 1) {
          mark = { id: newest.id, batches: newest.batches + 1 };
        } else {
          const id = Number(insertMark.run(processor, vehicleId, low, high, markedMs).lastInsertRowid);
          mark = { id, batches: 1 };
        }
        newestMark.set(key, mark);
        const list = marks.get(vehicleId);
        if (list) list.push([processor, mark.id, mark.batches]);
        else marks.set(vehicleId, [[processor, mark.id, mark.batches]]);
      }
      storedHigh.set(
        vehicleId,
        before === undefined
          ? Math.max(high, (newestStored.get(vehicleId) as number | null) ?? high)
          : Math.max(before, high),
      );
    }
    await storeBesideSamples(trx, withRaw, batch);
    if (minRowid !== null) mark = await derived.markOwed(trx, minRowid);
    return minRowid !== null;
  });
  wrote();
  if (committed && marks.size > 0) {
    const message: CommittedBatch = {
      vehicles: [...marks].map(([vehicleId, m]) => ({
        vehicleId,
        marks: m,
        samples: Uint32Array.from(stored.get(vehicleId) ?? []),
      })),
      parts: batch.parts.map((p) => ({ numbers: p.numbers, metrics: p.metrics, metricsEnd: p.metricsEnd })),
    };
    committed.postMessage(message);
  }
  const fold = () => {
    derived.committed(mark);
    foldInserted(batch, inserted);
    if (derived.size >= FLUSH_ROWS) flushSoon();
    else if (any) flushLater();
  };
  return { inserted, fold };
}

/**
 * Folds the committed batch into the derived rows owed: a part's own fold when all of it was inserted
 * (an HTTP batch folded on the main thread), and every other inserted sample, read from its columns, as
 * one fold after those, in the order they came.
 */
function foldInserted(batch: PackedBatch, inserted: readonly boolean[]): void {
  const loose: Array<{ part: PackedSamples; from: number }> = [];
  let from = 0;
  for (const part of batch.parts) {
    if (part.folded && allInserted(inserted, from, part.count)) derived.addFolded(part.folded);
    else loose.push({ part, from });
    from += part.count;
  }
  for (const { part, from } of loose) {
    for (let i = 0; i < part.count; i++) {
      if (!inserted[from + i]) continue;
      const vehicleId = part.vehicles[part.vehicle[i]!]!;
      derived.addSample(vehicleId, tsAt(part, i), seqAt(part, i), metricsAt(part, i), positionAt(part, i));
    }
  }
}

function allInserted(inserted: readonly boolean[], from: number, count: number): boolean {
  for (let i = from; i < from + count; i++) if (!inserted[i]) return false;
  return true;
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

/** Runs a request; `after` is work for once its reply is sent. */
async function handle(request: WriteRequest): Promise<{ reply: WriteReply; after?: () => void }> {
  try {
    if ('batch' in request) {
      const { inserted, fold } = await writeBatch(request.batch);
      return { reply: { id: request.id, inserted }, after: fold };
    }
    if ('prune' in request) {
      const { limits, nowMs } = request.prune;
      const pruned = await db.transaction().execute((trx) => pruneDeadLetters(trx, limits, nowMs));
      wrote();
      return { reply: { id: request.id, pruned } };
    }
    await flush();
    return { reply: { id: request.id, inserted: [] } };
  } catch (error) {
    // A batch rolled back: what this thread knew of the marks may be ahead of the database now.
    if ('batch' in request) {
      newestMark.clear();
      storedHigh.clear();
    }
    const e = error as { message?: unknown; code?: unknown };
    return {
      reply: {
        id: request.id,
        error: {
          message: String(e?.message ?? error),
          ...(typeof e?.code === 'string' ? { code: e.code } : {}),
        },
      },
    };
  }
}

/**
 * Fails the thread: thrown outside the job chain, the main thread gets it as the thread's 'error', fails
 * what it has in flight as an outage and starts a new thread, which folds back in what is owed.
 */
function fail(error: unknown): Promise<never> {
  setImmediate(() => {
    throw error;
  });
  return new Promise(() => {});
}

// One job at a time, in the order they came. The first folds back in what a previous thread left owed;
// if it cannot, the thread fails (the main thread fails its batches as an outage and starts a new one):
// writing batches without knowing the mark could move it past samples still owed.
let previous: Promise<unknown> = derived.recover(db).then((owed) => {
  if (owed > 0) flushLater();
}, fail);
function enqueue(job: () => Promise<unknown>): void {
  previous = previous.then(job, job);
}
port.on('message', (request: WriteRequest) => {
  // More is coming: not idle. (A pruning step is no sign of more batches: the idle flush stays due.)
  if (idleTimer && !('prune' in request)) {
    clearTimeout(idleTimer);
    idleTimer = null;
  }
  enqueue(async () => {
    const { reply, after } = await handle(request);
    port.postMessage(reply);
    // The samples are committed and the sender told: their derived rows are folded in now. Should that
    // fail, the thread must not go on with a mark that no longer covers what is owed.
    try {
      after?.();
    } catch (error) {
      await fail(error);
    }
  });
});
