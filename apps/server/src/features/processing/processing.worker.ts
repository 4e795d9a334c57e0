/**
 * The processing thread (processing-thread.ts): runs the passes the main thread asks for, one at a time,
 * on a SQLite connection of its own. Loaded by file name, so it imports only what processing needs.
 */
import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';
import { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { openSqliteFile, sqliteDialect } from '../../db/sqlite.js';
import { lowerThreadPriority } from '../../lib/worker.js';
import { type CommittedBatch, CommittedTail, committedChannelName } from './committed-tail.js';
import { buildProcessor } from './index.js';
import { IngestFirst, restOfProcessCpuMs } from './ingest-first.js';
import type { ProcessingThreadData, ThreadReply, ThreadRequest } from './processing-thread.js';
import { LocalPasses } from './runner.js';
import { WriteThrough } from './write-through.js';

const { file, processors, chunk } = workerData as ProcessingThreadData;
/** The thread's `nice`: under a flood of messages it gets about a tenth of a core beside a busy thread. */
const PROCESSING_NICE = 10;
const port = parentPort;
if (!port) throw new Error('processing.worker must run in a worker thread');

// Waiting for the write lock blocks only this thread (the telemetry writer thread's commits are short);
// checkpoints are the checkpointer thread's.
const native = openSqliteFile(file);
native.pragma('wal_autocheckpoint = 0');
// Its commits need no fsync of their own: the writer thread's next commit syncs the WAL they are in, and
// one lost to a power cut leaves its marks, so the round is done again (deterministic ids: same rows).
native.pragma('synchronous = NORMAL');
const db = new Kysely<Database>({ dialect: sqliteDialect(native) });
// The writer thread commits this thread's writes (decision 0032), so it never holds the write lock and
// may wait its turn for the CPU: ingest and requests go first, passes take the time left over.
const writeThrough = new WriteThrough(file);
lowerThreadPriority(PROCESSING_NICE);

const post = (reply: ThreadReply) => port.postMessage(reply);
const log =
  (level: 'error' | 'warn') =>
  (obj: object, msg: string): void => {
    // Errors do not cross threads as they are: their message and code do.
    const { err, ...rest } = obj as { err?: { message?: unknown; code?: unknown } };
    const error = err ? { err: { message: String(err.message ?? err), code: err.code } } : {};
    post({ log: { level, obj: { ...rest, ...error }, msg } });
  };
// What the writer thread commits from now on comes here too (decision 0029).
const tail = new CommittedTail();
const committed = new BroadcastChannel(committedChannelName(file));
committed.onmessage = (event) => tail.add((event as { data: CommittedBatch }).data);
committed.unref();
const passes = new LocalPasses(
  {
    storage: { db, engine: 'sqlite' },
    logger: { error: log('error'), warn: log('warn') },
    processors: processors.map(buildProcessor),
    tail,
    writeThrough,
    ingestFirst: new IngestFirst(restOfProcessCpuMs),
  },
  { chunk: chunk ?? 5000, duty: 1, groupCommit: true, sharedSnapshot: true },
);

let previous: Promise<unknown> = Promise.resolve();
port.on('message', (request: ThreadRequest) => {
  if ('stop' in request) {
    void passes.close();
    // A write the writer thread has not answered yet counts as not done (its marks stay).
    writeThrough.close();
    previous = previous.then(async () => {
      committed.close();
      await db.destroy();
      process.exit(0);
    });
    return;
  }
  previous = previous.then(async () => {
    try {
      post({ id: request.id, result: await passes.pass(request.nowMs) });
    } catch (error) {
      post({ id: request.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
});
