/**
 * The WAL checkpointer: a thread the SQLite writer thread starts beside itself, with a connection of its
 * own, that copies committed WAL pages back into the database file while the writer goes on committing.
 *
 * Left to SQLite, the checkpoint runs inside the COMMIT that takes the WAL past `wal_autocheckpoint`
 * pages, and that batch and every one queued behind it wait for it: at 10,000 messages/s from 100
 * vehicles the WAL grows ~12,000 pages a second (each commit rewrites every vehicle's newest index leaf),
 * and every such commit took 6–35 ms more. A PASSIVE checkpoint takes no lock the writer needs. Once it
 * has copied everything, the writer's next transaction starts the WAL over from its beginning; should the
 * writer always commit meanwhile, its own automatic checkpoint (db/sqlite.ts) still bounds the WAL, and
 * finds little left to copy. Decision record: docs/decisions/0011-wal-checkpoints-in-a-thread.md.
 *
 * The writer posts a message after each commit; a checkpoint follows at most `CHECKPOINT_EVERY_MS` later,
 * so an idle server does no work here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteFile } from '../../db/sqlite.js';

/** How long commits accumulate before a checkpoint copies them. */
const CHECKPOINT_EVERY_MS = 50;

const port = parentPort;
if (!port) throw new Error('wal-checkpointer.worker must run in a worker thread');
const native = openSqliteFile((workerData as { file: string }).file);

/** A checkpoint is due: commits after this one wait for it. */
let due = false;
function checkpoint(): void {
  due = false;
  try {
    native.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // SQLITE_BUSY (another checkpoint runs) or an I/O error: the next commit asks again, and the writer's
    // automatic checkpoint stays the backstop.
  }
}
port.on('message', () => {
  if (due) return;
  due = true;
  setTimeout(checkpoint, CHECKPOINT_EVERY_MS);
});
