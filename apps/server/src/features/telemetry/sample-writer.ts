import type { Worker } from 'node:worker_threads';
import type { Storage } from '../../db/index.js';
import { startWorker } from '../../lib/worker.js';
import { type DeadLetterLimits, type PruneResult, pruneDeadLetters } from './dead-letters.repo.js';
import { type PackedBatch, unpackBatch } from './packed-batch.js';
import { writeSampleBatch } from './sample-batch.js';

/** Writes ingest batches, one transaction each. */
export interface SampleWriter {
  /** Batches it takes at once: the SQLite thread queues a second while it commits the first. */
  readonly maxInFlight: number;
  /**
   * Resolves after commit with, per sample of its parts in order, whether it was inserted (false: stored
   * before, or earlier in the same batch).
   */
  write(batch: PackedBatch): Promise<boolean[]>;
  /**
   * Resolves once `vehicle_state` and the rollups include every batch committed so far: call it before
   * reading them. Never rejects; should the write fail, those tables lag until the next flush.
   */
  flushDerived(): Promise<void>;
  /**
   * One bounded step of dead-letter retention (dead-letters.repo.ts), in its own transaction: the SQLite
   * thread runs it between batches, after the replies it owes, so no sender waits for it.
   */
  prune(limits: DeadLetterLimits, nowMs: number): Promise<PruneResult>;
  /** Writes what is owed, then stops. */
  close(): Promise<void>;
}

/**
 * A SQLite file gets a writer thread with a connection of its own: better-sqlite3 blocks while a
 * transaction runs (inserts, page writes, fsync), and on the main thread that would stall every socket
 * for as long. PostgreSQL (asynchronous already) and in-memory SQLite write on the storage's connection.
 * Decision record: docs/decisions/0006-sqlite-writer-thread.md.
 */
export function createSampleWriter(
  storage: Storage,
  options: Partial<DerivedFlushOptions & { processors: readonly string[] }> = {},
): SampleWriter {
  const processors = options.processors ?? [];
  if (storage.file !== null) {
    return new SqliteThreadWriter({ file: storage.file, ...defaultDerivedFlush, ...options, processors });
  }
  return {
    // One transaction at a time: two on separate connections could commit out of order, and would
    // contend for the same state rows.
    maxInFlight: 1,
    // These insert objects; the packing is undone (a few µs per sample, beside a network round trip).
    write: (batch) =>
      storage.db.transaction().execute((trx) => writeSampleBatch(trx, unpackBatch(batch), processors)),
    flushDerived: async () => {},
    prune: (limits, nowMs) => storage.db.transaction().execute((trx) => pruneDeadLetters(trx, limits, nowMs)),
    close: async () => {},
  };
}

/** When the SQLite writer thread writes the state and rollups it owes (derived-buffer.ts). */
export interface DerivedFlushOptions {
  /**
   * Once no batch came for this long: a quiet writer catches up within a tenth of a second… (Readers
   * never wait for it: they ask for a flush first. Shorter, a steady 10,000 messages/s found a gap
   * between batches several times a second, each flush a 10–35 ms wait for the batches behind it.)
   */
  flushIdleMs: number;
  /** …and a busy one at the latest this long after the first batch that owed them. */
  flushAfterMs: number;
}
const defaultDerivedFlush: DerivedFlushOptions = { flushIdleMs: 100, flushAfterMs: 1000 };

export interface WriterThreadData extends DerivedFlushOptions {
  readonly file: string;
  /** After-commit processors to leave marks for (decision 0017). */
  readonly processors: readonly string[];
}

/** Messages to and from `sample-writer.worker.ts`. */
export type WriteRequest =
  | { readonly id: number; readonly batch: PackedBatch }
  /** Write the derived rows owed now (replies with no samples). */
  | { readonly id: number; readonly flush: true }
  | { readonly id: number; readonly prune: { readonly limits: DeadLetterLimits; readonly nowMs: number } };
export type WriteReply =
  | { readonly id: number; readonly inserted: boolean[] }
  | { readonly id: number; readonly pruned: PruneResult }
  | { readonly id: number; readonly error: { readonly message: string; readonly code?: string } };

interface InFlight {
  // What the reply carries: `inserted` for a batch or a flush, `pruned` for a pruning step.
  resolve(value: never): void;
  reject(error: Error): void;
}

/**
 * Posts batches to the writer thread and settles each when the thread reports its commit. An error
 * keeps its `code` (SQLITE_CONSTRAINT_…) so the pipeline still tells bad data from an outage. If the
 * thread dies, what it held fails as an outage (the pipeline retries; a batch it did commit then shows
 * as duplicates) and the next write starts a new thread. One writer per database file: the derived rows'
 * crash mark (derived-buffer.ts) belongs to a single thread at a time.
 */
class SqliteThreadWriter implements SampleWriter {
  readonly maxInFlight = 2;
  private worker: Worker | null = null;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly data: WriterThreadData) {}

  write(batch: PackedBatch): Promise<boolean[]> {
    if (this.closed) return Promise.reject(new Error('the SQLite writer was closed'));
    return this.call<boolean[]>(this.worker ?? this.start(), { id: this.nextId++, batch });
  }

  prune(limits: DeadLetterLimits, nowMs: number): Promise<PruneResult> {
    if (this.closed) return Promise.reject(new Error('the SQLite writer was closed'));
    return this.call<PruneResult>(this.worker ?? this.start(), {
      id: this.nextId++,
      prune: { limits, nowMs },
    });
  }

  async flushDerived(): Promise<void> {
    if (this.closed) return;
    // Without a thread (none started yet, or the last one died) rows may still be owed from before: a new
    // thread folds them back in first, then flushes.
    await this.call(this.worker ?? this.start(), { id: this.nextId++, flush: true }).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.worker) await this.flushDerived();
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.failAll(new Error('the SQLite writer was closed'));
    await worker?.terminate();
  }

  private call<T>(worker: Worker, request: WriteRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.inFlight.set(request.id, { resolve: resolve as (value: never) => void, reject });
      worker.postMessage(request);
    });
  }

  private start(): Worker {
    const worker = startWorker(new URL('./sample-writer.worker.js', import.meta.url), {
      workerData: this.data,
    });
    // The server's own lifetime decides when to stop; an idle writer thread must not keep it alive.
    worker.unref();
    worker.on('message', (reply: WriteReply) => {
      const call = this.inFlight.get(reply.id);
      if (!call) return;
      this.inFlight.delete(reply.id);
      if ('inserted' in reply) call.resolve(reply.inserted as never);
      else if ('pruned' in reply) call.resolve(reply.pruned as never);
      else call.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    const lost = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.failAll(error);
      void worker.terminate();
    };
    worker.on('error', (error) => lost(new Error(`the SQLite writer thread failed: ${error.message}`)));
    worker.on('exit', (code) => lost(new Error(`the SQLite writer thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const call of this.inFlight.values()) call.reject(error);
    this.inFlight.clear();
  }
}
