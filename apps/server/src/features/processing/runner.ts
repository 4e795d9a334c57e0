import type { MetricValue, Position } from '@tacho/protocol';
import { sql } from 'kysely';
import { Counter, Histogram, type Registry } from 'prom-client';
import { type Db, exclusively, inTransaction, readSnapshot, type Storage } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { CommittedTail } from './committed-tail.js';
import type { IngestFirst } from './ingest-first.js';
import { gateOpen, gateShut, MARK_GATES } from './marks.js';
import type { RecordedQuery, WriteThrough } from './write-through.js';

/**
 * The after-commit processing path (decision 0017): every feature that derives data from stored samples
 * is a Processor run here. Ingest writes a mark per vehicle per batch in the batch's transaction; a
 * runner finds vehicles with marks it has not consumed, takes each under a per-vehicle try-lock (one
 * instance at a time), reads the samples after its cursor in device-time order, and commits the
 * processor's output with its cursor, state and consumed marks in one transaction.
 */

/** A committed sample as processors see it. */
export interface ProcessorSample {
  readonly tsMs: number;
  readonly seq: number;
  readonly metrics: Readonly<Record<string, MetricValue>>;
  readonly position?: Position;
}

export interface Cursor {
  tsMs: number;
  seq: number;
}

/** A mark as a round read it: its id, and how many batches it held then (decision 0033). */
export interface MarkRead {
  readonly id: number;
  readonly batches: number;
  /** The newest device time among its batches (null: not recorded). */
  readonly highTsMs: number | null;
}

/** Writes a processor's output inside the round's transaction. */
export type Write = (trx: Db) => Promise<void>;

export interface Processor<S> {
  readonly name: string;
  initial(): S;
  /**
   * Late data: samples at or before the cursor arrived, the oldest at `fromTsMs`. Returns the state and
   * cursor to resume from and how to remove the output that will be derived again. A processor without
   * it lets late data pass (alerts: what a late reading says is already past).
   */
  rewind?(
    db: Db,
    vehicleId: string,
    fromTsMs: number,
  ): Promise<{ state: S; cursor: Cursor | null; undo: Write }>;
  /**
   * Where a vehicle's first round starts (default: its first sample). `lowTsMs` is the oldest device
   * time the round's marks name (null when the round only ticks or was woken).
   */
  start?(db: Db, vehicleId: string, lowTsMs: number | null): Promise<Cursor | null>;
  /**
   * Nothing to do for the vehicle now (alerts: it has no rule): the round drops its marks and forgets
   * its progress without reading a sample; its next round begins at `start` again.
   */
  idle?(db: Db, vehicleId: string): Promise<boolean>;
  /**
   * Folds the next samples after the cursor (device-time order; empty when the round only ticks), and
   * says when it wants to look again without new data (null: only on new data).
   */
  fold(
    db: Db,
    vehicleId: string,
    state: S,
    samples: readonly ProcessorSample[],
    nowMs: number,
  ): Promise<{ state: S; write: Write; tickAtMs: number | null }>;
}

export interface RunnerOptions {
  /** Samples read per round (a backlog is worked through round by round). */
  chunk: number;
  /** How often to look for work. */
  pollMs: number;
  /**
   * The share of the event loop's time rounds may take: after a round of t ms the passes rest
   * t × (1 − duty) / duty ms. On a SQLite connection of the main thread every query blocks it, beside
   * ingest (the server runs SQLite's processing in a thread of its own instead: `ProcessingRunner.inThread`).
   */
  duty: number;
  /**
   * Commit the rounds of a pass together, up to `GROUP_ROUNDS` in one transaction, instead of one each
   * (the SQLite processing thread: each commit is one request to the telemetry writer thread, decision
   * 0032, or one take of the write lock beside it). Only where passes never overlap.
   */
  groupCommit: boolean;
  /**
   * SQLite with grouped commits only: the rounds of a group read in one snapshot instead of one each.
   * SQLite drops a connection's page cache at the first read after another connection committed, so a
   * snapshot per round read the same index pages again for every vehicle; the group's writes still
   * commit after it, as a round's always did.
   */
  sharedSnapshot: boolean;
  /** The share of the time scheduled passes may take (the rest between them grows with a pass's length). */
  passShare: number;
}

const defaults: RunnerOptions = {
  chunk: 5000,
  pollMs: 250,
  duty: 1,
  groupCommit: false,
  sharedSnapshot: false,
  passShare: 1,
};
/** Rounds committed in one transaction at most (grouped commits). */
const GROUP_ROUNDS = 20;
const MAX_RETRY_MS = 5 * 60_000;
/** Marks consumed per round at most (a long backlog is consumed over several rounds). */
const MAX_MARKS_PER_ROUND = 5000;

type RoundResult = 'idle' | 'done' | 'more' | 'busy' | 'failed';

/** What one pass over the vehicles with work did. */
export interface PassResult {
  /** Some vehicle has more to do at once. */
  readonly more: boolean;
  /**
   * A round read as many samples as one may and left more (an import, a backfill, a thread that fell
   * behind): the next pass comes at once, not after the poll interval.
   */
  readonly backlog: boolean;
  /** Each committed round's lag: from the commit of its oldest mark to its own, per processor. */
  readonly lags: ReadonlyArray<readonly [processor: string, ms: number]>;
  /** The processor of each round that failed. */
  readonly failed: readonly string[];
}

/** Where passes run: on this thread (`LocalPasses`) or in a worker thread (processing-thread.ts). */
export interface PassSource {
  /** One pass at the clock's `nowMs`; ends early once stopping. */
  pass(nowMs: number): Promise<PassResult>;
  /** Ends the pass under way early (between rounds) and closes; the next pass is never asked for. */
  close(): Promise<void>;
}

/** The logging a pass does: failures and what could not be recorded of them. */
export interface PassLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Runs passes over the vehicles with work, on the connection it is given: the processing itself (see the
 * module comment). `ProcessingRunner` decides when.
 */
export class LocalPasses implements PassSource {
  private stopping = false;
  /** Rounds done but not yet committed (grouped commits), with what follows each commit. */
  private readonly group: Array<{
    processor: Processor<unknown>;
    vehicleId: string;
    write: Write;
    after: () => void;
  }> = [];

  constructor(
    private readonly deps: {
      storage: Pick<Storage, 'db' | 'engine'>;
      logger: PassLogger;
      processors: ReadonlyArray<Processor<unknown>>;
      /** Samples the SQLite writer thread just committed, so rounds need not read them back. */
      tail?: CommittedTail;
      /** Grouped commits made by the SQLite writer thread instead of on this connection (decision 0032). */
      writeThrough?: WriteThrough;
      /** Passes give way while the rest of the server keeps the cores busy (decision 0034). */
      ingestFirst?: IngestFirst;
    },
    private readonly options: Pick<RunnerOptions, 'chunk' | 'duty' | 'groupCommit'> &
      Partial<Pick<RunnerOptions, 'sharedSnapshot'>> = defaults,
  ) {}

  /** A read snapshot the group's rounds share is open (`sharedSnapshot`). */
  private inSnapshot = false;
  /** When the shared snapshot began (before its first read). */
  private snapshotAtMs = 0;

  /** Opens the snapshot the next rounds share, if they share one and none is open. */
  private async shareSnapshot(): Promise<void> {
    if (this.inSnapshot || !this.options.sharedSnapshot || this.deps.storage.engine !== 'sqlite') return;
    this.snapshotAtMs = Date.now();
    await sql`begin deferred`.execute(this.deps.storage.db);
    this.inSnapshot = true;
  }

  /** Runs a round's reads in the shared snapshot, or in one of its own. */
  private snapshot<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
    return this.inSnapshot ? fn(db) : readSnapshot(this.deps.storage, db, fn);
  }

  /** Ends the shared snapshot (before anything writes on the connection). */
  private async endSnapshot(): Promise<void> {
    if (!this.inSnapshot) return;
    this.inSnapshot = false;
    await sql`commit`.execute(this.deps.storage.db);
  }

  async close(): Promise<void> {
    this.stopping = true;
  }

  async pass(nowMs: number): Promise<PassResult> {
    try {
      return await this.passOnce(nowMs);
    } finally {
      // A pass that threw may have left the shared snapshot open: the next must not read in it.
      await this.endSnapshot().catch(() => {});
    }
  }

  private async passOnce(nowMs: number): Promise<PassResult> {
    let more = false;
    let backlog = false;
    const lags: Array<readonly [string, number]> = [];
    const failed: string[] = [];
    // Ingest first: a pass waits while the rest of the server keeps the cores busy, and stops between
    // rounds when it starts to; after waiting its longest, a pass runs to its end.
    const ingest = this.deps.ingestFirst;
    const start = ingest?.passStarts() ?? 'run';
    if (start === 'wait') return { more: true, backlog: false, lags, failed };
    let gaveWay = false;
    passing: for (const processor of this.deps.processors) {
      // Nothing to do for any vehicle now (alerts: no rule enabled, marks.ts): every mark of the processor
      // goes in one statement, and the progress of vehicles not woken meanwhile. The commit may come
      // after a rule was enabled and batches marked for it: the statements check the gate again.
      const gate = MARK_GATES[processor.name];
      if (gate !== undefined && !(await gateOpen(this.deps.storage.db, gate))) {
        await this.commit(
          this.deps.storage.db,
          processor,
          '',
          async (trx) => {
            await trx
              .deleteFrom('processing_marks')
              .where('processor', '=', processor.name)
              .where(gateShut(gate))
              .execute();
            await trx
              .deleteFrom('processing_state')
              .where('processor', '=', processor.name)
              .where('pending', '=', 0)
              .where(gateShut(gate))
              .execute();
          },
          () => this.deps.tail?.droppedAll(processor.name),
        );
        continue;
      }
      const vehicles = await this.candidates(processor.name, nowMs);
      for (const vehicleId of vehicles) {
        if (this.stopping) break;
        const started = performance.now();
        const result = await this.round(processor, vehicleId, nowMs, (ms) => lags.push([processor.name, ms]));
        if (result === 'more') {
          more = true;
          backlog = true;
        }
        if (result === 'failed') failed.push(processor.name);
        if (this.group.length >= GROUP_ROUNDS && !(await this.flush(nowMs, failed))) more = true;
        // Sockets and ingest go first between rounds (on SQLite each query of a round blocks the thread).
        const duty = ingest?.duty() ?? this.options.duty;
        const rest = ((performance.now() - started) * (1 - duty)) / duty;
        await new Promise((resolve) =>
          rest >= 1 ? setTimeout(resolve, Math.min(rest, 1000)) : setImmediate(resolve),
        );
        if (start === 'run' && ingest?.roundWaits()) {
          gaveWay = true;
          break passing;
        }
      }
    }
    if (!(await this.flush(nowMs, failed))) more = true;
    // Stopped for ingest: the rest is more work, not a backlog to go on with at once.
    if (gaveWay) return { more: !this.stopping, backlog: false, lags, failed };
    return { more: more && !this.stopping, backlog: backlog && !this.stopping, lags, failed };
  }

  /**
   * Commits the grouped rounds in one transaction. The write lock taken meanwhile (the telemetry writer):
   * nothing is lost, their marks remain and the next pass does them again (returns false). One round's
   * write failing: each is committed alone, so only that vehicle fails.
   */
  private async flush(now: number, failed: string[]): Promise<boolean> {
    await this.endSnapshot();
    const items = this.group.splice(0);
    if (items.length === 0) return true;
    const through = this.deps.writeThrough;
    if (through && (await through.present())) return this.flushThrough(through, items, now, failed);
    const { db } = this.deps.storage;
    try {
      await inTransaction(db, async (trx) => {
        for (const item of items) await item.write(trx);
      });
      for (const item of items) item.after();
      return true;
    } catch (error) {
      if (isContention(error)) return false;
    }
    let all = true;
    for (const item of items) {
      try {
        await inTransaction(db, item.write);
        item.after();
      } catch (error) {
        if (isContention(error)) all = false;
        else {
          await this.failed(item.processor, item.vehicleId, now, error);
          failed.push(item.processor.name);
        }
      }
    }
    return all;
  }

  /**
   * Has the writer thread commit the grouped rounds (decision 0032). A round whose write cannot be
   * recorded or fails there fails alone; the writer busy (or gone): nothing was lost, as in `flush`.
   */
  private async flushThrough(
    through: WriteThrough,
    items: LocalPasses['group'],
    now: number,
    failed: string[],
  ): Promise<boolean> {
    const recorded: Array<{ item: (typeof items)[number]; queries: RecordedQuery[] }> = [];
    for (const item of items) {
      try {
        recorded.push({ item, queries: await through.record(item.write) });
      } catch (error) {
        await this.failed(item.processor, item.vehicleId, now, error);
        failed.push(item.processor.name);
      }
    }
    if (recorded.length === 0) return true;
    const outcome = await through.write(recorded.map((r) => r.queries));
    if (outcome === 'busy') return false;
    for (const [i, { item }] of recorded.entries()) {
      const error = outcome[i];
      if (error === null || error === undefined) item.after();
      else {
        await this.failed(item.processor, item.vehicleId, now, new Error(error));
        failed.push(item.processor.name);
      }
    }
    return true;
  }

  /** Commits a round's output now, or (grouped commits) with the others of the pass. */
  private async commit(
    db: Db,
    processor: Processor<unknown>,
    vehicleId: string,
    write: Write,
    after: () => void = () => {},
  ): Promise<void> {
    if (!this.options.groupCommit) {
      await inTransaction(db, write);
      after();
      return;
    }
    this.group.push({ processor, vehicleId, write, after });
  }

  /** Vehicles with unconsumed marks, more samples to read, or a tick due; not while backing off. */
  private async candidates(processor: string, now: number): Promise<string[]> {
    const { db } = this.deps.storage;
    const marked = await db
      .selectFrom('processing_marks as m')
      .leftJoin('processing_state as s', (join) =>
        join.onRef('s.vehicle_id', '=', 'm.vehicle_id').onRef('s.processor', '=', 'm.processor'),
      )
      .select('m.vehicle_id')
      .distinct()
      .where('m.processor', '=', processor)
      .where((eb) => eb.or([eb('s.retry_at_ms', 'is', null), eb('s.retry_at_ms', '<=', now)]))
      .limit(500)
      .execute();
    const due = await db
      .selectFrom('processing_state')
      .select('vehicle_id')
      .where('processor', '=', processor)
      .where((eb) => eb.or([eb('pending', '=', 1), eb('tick_at_ms', '<=', now)]))
      .where((eb) => eb.or([eb('retry_at_ms', 'is', null), eb('retry_at_ms', '<=', now)]))
      .limit(500)
      .execute();
    return [...new Set([...marked.map((r) => r.vehicle_id), ...due.map((r) => r.vehicle_id)])];
  }

  /** One round of one processor on one vehicle, under the vehicle's lock. */
  async round(
    processor: Processor<unknown>,
    vehicleId: string,
    now: number,
    lagged: (ms: number) => void = () => {},
  ): Promise<RoundResult> {
    const key = `processing:${processor.name}:${vehicleId}`;
    try {
      const outcome = await exclusively(this.deps.storage, key, (db) =>
        this.work(db, processor, vehicleId, now, lagged),
      );
      return outcome.held ? outcome.value : 'busy';
    } catch (error) {
      // Contention, not a fault: PostgreSQL refused the round's snapshot because a row it writes changed
      // meanwhile (an API call stopped a recording), or SQLite's write lock was taken (the telemetry
      // writer thread committing). The next pass does the round again.
      if (isContention(error)) return 'busy';
      await this.failed(processor, vehicleId, now, error);
      return 'failed';
    }
  }

  private async work(
    db: Db,
    processor: Processor<unknown>,
    vehicleId: string,
    now: number,
    lagged: (ms: number) => void,
  ): Promise<RoundResult> {
    // One snapshot for every read (exclusively() runs PostgreSQL rounds at REPEATABLE READ; on SQLite a
    // read transaction), so the samples read are exactly those whose marks are read: a batch committed
    // meanwhile shows neither, and its mark waits for the next round.
    await this.shareSnapshot();
    // No later than the snapshot the round reads in: batches folded into its marks after it came later.
    const readAtMs = this.inSnapshot ? this.snapshotAtMs : Date.now();
    const read = await this.snapshot(db, async (trx) => {
      const row = await trx
        .selectFrom('processing_state')
        .selectAll()
        .where('processor', '=', processor.name)
        .where('vehicle_id', '=', vehicleId)
        .executeTakeFirst();
      const marks = await trx
        .selectFrom('processing_marks')
        .select(['id', 'low_ts_ms', 'marked_ms', 'batches', 'high_ts_ms'])
        .where('processor', '=', processor.name)
        .where('vehicle_id', '=', vehicleId)
        .orderBy('id')
        .limit(MAX_MARKS_PER_ROUND)
        .execute();
      const tickDue = row?.tick_at_ms !== null && row?.tick_at_ms !== undefined && row.tick_at_ms <= now;
      if (marks.length === 0 && !row?.pending && !tickDue) return null;
      const marksRead: MarkRead[] = marks.map((m) => ({
        id: Number(m.id),
        batches: Number(m.batches),
        highTsMs: m.high_ts_ms === null ? null : Number(m.high_ts_ms),
      }));
      const vehicle = await trx
        .selectFrom('vehicles')
        .select('id')
        .where('id', '=', vehicleId)
        .executeTakeFirst();
      if (!vehicle) return { gone: true as const, marksRead, forget: false, pending: 0 };
      if (processor.idle && (await processor.idle(trx, vehicleId)))
        return { gone: true as const, marksRead, forget: row !== undefined, pending: row?.pending ?? 0 };

      let state: unknown = row ? JSON.parse(row.state) : processor.initial();
      let cursor: Cursor | null =
        row && row.cursor_ts_ms !== null ? { tsMs: row.cursor_ts_ms, seq: row.cursor_seq ?? 0 } : null;
      let undo: Write | null = null;
      let low: number | null = null;
      let markedMs: number | null = null;
      for (const m of marks) {
        low = low === null ? Number(m.low_ts_ms) : Math.min(low, Number(m.low_ts_ms));
        markedMs = markedMs === null ? Number(m.marked_ms) : Math.min(markedMs, Number(m.marked_ms));
      }
      // A mark at or before the cursor is late data: every sample read before was read in a snapshot
      // that also held its mark, and that mark was consumed with it.
      if (cursor === null && processor.start) cursor = await processor.start(trx, vehicleId, low);
      else if (low !== null && cursor !== null && low <= cursor.tsMs && processor.rewind) {
        ({ state, cursor, undo } = await processor.rewind(trx, vehicleId, low));
      }
      // The batches the marks name, as the writer thread handed them over, when it did for every one and
      // they are all there is after the cursor: not after a rewind, on a first round (the cursor came from
      // `start`) or with more left from the round before (`pending`), and not past one round's share.
      // A first round (no progress yet, and the processor starts at the first sample) may too: then no
      // mark of the vehicle was ever consumed, so the marks name every sample it has, unless some came
      // before the processor existed (a database from before it: one indexed look for an older sample).
      const tail = this.deps.tail;
      const first = !row && !processor.start && cursor === null;
      const resumes = row && row.cursor_ts_ms !== null && !row.pending && cursor !== null;
      let fromTail =
        tail && !undo && (first || resumes) && marks.length > 0 && marks.length < MAX_MARKS_PER_ROUND
          ? tail.samplesFor(processor.name, vehicleId, marksRead, cursor, this.options.chunk - 1)
          : null;
      if (fromTail && first && fromTail[0] && (await anyBefore(trx, vehicleId, fromTail[0]))) fromTail = null;
      const samples = fromTail ?? (await readSamples(trx, vehicleId, cursor, this.options.chunk));
      const folded = await processor.fold(trx, vehicleId, state, samples, now);
      const last = samples[samples.length - 1];
      if (last) cursor = { tsMs: last.tsMs, seq: last.seq };
      const more = samples.length === this.options.chunk || marks.length === MAX_MARKS_PER_ROUND;
      return { gone: false as const, marksRead, undo, folded, cursor, more, markedMs };
    });
    if (read === null) return 'idle';
    if (read.gone) {
      // Deleted meanwhile (its samples and state went with it), or nothing to do for it: its marks have
      // no use left, and an idle vehicle's progress is forgotten (`start` says where it resumes), unless
      // it was woken since the round read it (a new alert rule sets `pending`).
      await this.commit(
        db,
        processor,
        vehicleId,
        async (trx) => {
          await consumeMarks(trx, read.marksRead, null, readAtMs);
          if (read.forget)
            await trx
              .deleteFrom('processing_state')
              .where('processor', '=', processor.name)
              .where('vehicle_id', '=', vehicleId)
              .where('pending', '=', read.pending)
              .execute();
        },
        () => this.deps.tail?.consumed(processor.name, vehicleId, read.marksRead),
      );
      return 'done';
    }
    const { folded, cursor, more } = read;
    const stateRow = {
      cursor_ts_ms: cursor?.tsMs ?? null,
      cursor_seq: cursor?.seq ?? null,
      state: JSON.stringify(folded.state),
      pending: more ? 1 : 0,
      tick_at_ms: folded.tickAtMs,
      attempts: 0,
      retry_at_ms: null,
      failed_reason: null,
      failed_ms: null,
      updated_ms: now,
    };
    const markedMs = read.markedMs;
    await this.commit(
      db,
      processor,
      vehicleId,
      async (trx) => {
        if (read.undo) await read.undo(trx);
        await folded.write(trx);
        await trx
          .insertInto('processing_state')
          .values({ processor: processor.name, vehicle_id: vehicleId, ...stateRow })
          .onConflict((oc) => oc.columns(['processor', 'vehicle_id']).doUpdateSet(stateRow))
          .execute();
        await consumeMarks(trx, read.marksRead, cursor, readAtMs);
      },
      () => {
        this.deps.tail?.consumed(processor.name, vehicleId, read.marksRead);
        if (markedMs !== null) lagged(Math.max(0, Date.now() - markedMs));
      },
    );
    return more ? 'more' : 'done';
  }

  /** Records a failure and when to try again; the vehicle's progress stays where it was. */
  private async failed(
    processor: Processor<unknown>,
    vehicleId: string,
    now: number,
    error: unknown,
  ): Promise<void> {
    await this.endSnapshot().catch(() => {});
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 500);
    this.deps.logger.error(
      { err: error, processor: processor.name, vehicleId },
      'processing failed; will retry',
    );
    try {
      const { db } = this.deps.storage;
      const row = await db
        .selectFrom('processing_state')
        .select('attempts')
        .where('processor', '=', processor.name)
        .where('vehicle_id', '=', vehicleId)
        .executeTakeFirst();
      const attempts = (row?.attempts ?? 0) + 1;
      const retry = { attempts, retry_at_ms: now + Math.min(MAX_RETRY_MS, 1000 * 2 ** (attempts - 1)) };
      const failure = { ...retry, failed_reason: reason, failed_ms: now, updated_ms: now };
      await db
        .insertInto('processing_state')
        .values({
          processor: processor.name,
          vehicle_id: vehicleId,
          state: JSON.stringify(processor.initial()),
          pending: 0,
          ...failure,
        })
        .onConflict((oc) => oc.columns(['processor', 'vehicle_id']).doUpdateSet(failure))
        .execute();
    } catch (bookkeeping) {
      // The vehicle may be gone, or the database down: the marks stay, and the next pass tries again.
      this.deps.logger.warn({ err: bookkeeping, vehicleId }, 'processing failure not recorded');
    }
  }
}

/**
 * Decides when passes run: soon after a local commit hints at work (`poke`), else every `pollMs`, and
 * never more often than that (between passes a vehicle's marks gather, and one round takes them all).
 * Keeps the processing metrics. The passes run where its `PassSource` runs them.
 */
export class ProcessingRunner {
  private readonly options: RunnerOptions;
  private readonly passes: PassSource;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private closed = false;
  private again = false;
  /** When the last pass started. */
  private lastPassMs = 0;
  private readonly lag: Histogram<'processor'> | null = null;
  private readonly failures: Counter<'processor'> | null = null;
  private readonly lagListeners: Array<(processor: string, ms: number) => void> = [];

  constructor(
    private readonly deps: {
      clock: Clock;
      logger: Logger;
      /** Where `tacho_processing_lag_seconds` and `tacho_processing_failures_total` go. */
      registry?: Registry;
    } & (
      | { storage: Pick<Storage, 'db' | 'engine'>; processors: ReadonlyArray<Processor<unknown>> }
      | { passes: PassSource }
    ),
    options: Partial<RunnerOptions> = {},
  ) {
    this.options = { ...defaults, ...options };
    this.passes =
      'passes' in deps
        ? deps.passes
        : new LocalPasses(
            { storage: deps.storage, logger: deps.logger, processors: deps.processors },
            this.options,
          );
    if (deps.registry) {
      this.lag = new Histogram({
        name: 'tacho_processing_lag_seconds',
        help: 'From the commit of stored samples to the commit of what a processor derived from them',
        labelNames: ['processor'],
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
        registers: [deps.registry],
      });
      this.failures = new Counter({
        name: 'tacho_processing_failures_total',
        help: 'Processing rounds that failed (the vehicle is retried with back-off)',
        labelNames: ['processor'],
        registers: [deps.registry],
      });
    }
  }

  /** Tells `listener` each committed round's lag (the benchmark's lag figure). */
  onLag(listener: (processor: string, ms: number) => void): void {
    this.lagListeners.push(listener);
  }

  start(): void {
    if (!this.stopped || this.closed) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Look for work soon (a local commit hints that there is some; the marks say what). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.schedule(Math.max(0, this.lastPassMs + this.options.pollMs - Date.now()));
  }

  /** Stops passing and closes where passes run (a pass under way ends after its current round). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const running = this.running;
    await this.passes.close();
    await running;
  }

  /** Works until no processor has work left (tests, and the catch-up benchmark). */
  async drain(): Promise<void> {
    for (let i = 0; ; i++) {
      if (!(await this.pass()).more) return;
      if (i > 1_000_000) throw new Error('processing did not settle');
    }
  }

  /** One round of one processor on one vehicle (tests; only where passes run on this thread). */
  round(processor: Processor<unknown>, vehicleId: string): Promise<RoundResult> {
    if (!(this.passes instanceof LocalPasses)) throw new Error('rounds run in the processing thread');
    return this.passes.round(processor, vehicleId, this.deps.clock.now());
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.pass()
        .catch((error) => {
          this.deps.logger.error({ err: error }, 'processing pass failed');
          return null;
        })
        .then((result) => {
          this.running = null;
          const now = this.again || (result?.more ?? false);
          this.again = false;
          // Passes take at most `passShare` of the time: a long pass (a flood, a backlog) rests longer,
          // and its next pass finds more marks per vehicle, which costs less per sample.
          const took = Date.now() - this.lastPassMs;
          const rest = (took * (1 - this.options.passShare)) / this.options.passShare;
          // A backlog goes on at once (waiting cannot make its rounds bigger: they read `chunk` at most);
          // new marks wait out the poll interval, so a flood makes each round bigger.
          const wait = result?.backlog
            ? 0
            : now
              ? Math.max(0, this.lastPassMs + this.options.pollMs - Date.now())
              : this.options.pollMs;
          this.schedule(Math.max(wait, rest));
        });
    }, ms);
    this.timer.unref?.();
  }

  /** One pass over the vehicles with work; true when some still have more. */
  private async pass(): Promise<PassResult> {
    this.lastPassMs = Date.now();
    const result = await this.passes.pass(this.deps.clock.now());
    for (const [processor, ms] of result.lags) {
      this.lag?.observe({ processor }, ms / 1000);
      for (const listener of this.lagListeners) listener(processor, ms);
    }
    for (const processor of result.failed) this.failures?.inc({ processor });
    return result;
  }
}

/** PostgreSQL's serialization failure and deadlock (SQLSTATE 40001, 40P01); SQLite's busy write lock. */
function isContention(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY'));
}

/**
 * Deletes the marks a round read, each only if it holds no more batches than it did then. A mark a batch
 * was folded into since (the SQLite writer thread, decision 0033) stays, and its oldest time moves to just
 * after what the round read: the batches folded in lie after every sample stored before them, so they
 * are neither late data nor anything the round saw. Their lag counts from `readAtMs` (they committed
 * after the round's snapshot). `cursor`: where the round left the vehicle (null: it derived nothing, the
 * vehicle is gone or idle).
 */
async function consumeMarks(
  trx: Db,
  marks: readonly MarkRead[],
  cursor: Cursor | null,
  readAtMs: number,
): Promise<void> {
  const byBatches = new Map<number, number[]>();
  for (const m of marks) {
    const ids = byBatches.get(m.batches);
    if (ids) ids.push(m.id);
    else byBatches.set(m.batches, [m.id]);
  }
  for (const [batches, ids] of byBatches) {
    for (let i = 0; i < ids.length; i += 1000) {
      await trx
        .deleteFrom('processing_marks')
        .where('id', 'in', ids.slice(i, i + 1000))
        .where('batches', '=', batches)
        .execute();
    }
  }
  // Only marks with a newest time recorded are ever folded into (PostgreSQL's never are).
  const folded = marks.filter((m) => m.highTsMs !== null);
  if (folded.length === 0) return;
  let seen = cursor?.tsMs ?? Number.NEGATIVE_INFINITY;
  for (const m of folded) seen = Math.max(seen, m.highTsMs!);
  const ids = folded.map((m) => m.id);
  for (let i = 0; i < ids.length; i += 1000) {
    await trx
      .updateTable('processing_marks')
      .set({ low_ts_ms: seen + 1, marked_ms: readAtMs })
      .where('id', 'in', ids.slice(i, i + 1000))
      .execute();
  }
}

/** Whether the vehicle has a sample before `at` in device-time order (its first one: an index lookup). */
async function anyBefore(db: Db, vehicleId: string, at: Cursor): Promise<boolean> {
  const first = await db
    .selectFrom('samples')
    .select(['ts_ms', 'seq'])
    .where('vehicle_id', '=', vehicleId)
    .orderBy('ts_ms')
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  if (!first) return false;
  const ts = Number(first.ts_ms);
  return ts < at.tsMs || (ts === at.tsMs && Number(first.seq) < at.seq);
}

/** The vehicle's samples after the cursor, in device-time order. */
async function readSamples(
  db: Db,
  vehicleId: string,
  cursor: Cursor | null,
  limit: number,
): Promise<ProcessorSample[]> {
  let query = db.selectFrom('samples').select(PROCESSOR_SAMPLE_COLUMNS).where('vehicle_id', '=', vehicleId);
  if (cursor) {
    const { tsMs, seq } = cursor;
    query = query.where((eb) =>
      eb.or([eb('ts_ms', '>', tsMs), eb.and([eb('ts_ms', '=', tsMs), eb('seq', '>', seq)])]),
    );
  }
  const rows = await query.orderBy('ts_ms').orderBy('seq').limit(limit).execute();
  return rows.map(toProcessorSample);
}

/** The columns a processor sample is read from. */
export const PROCESSOR_SAMPLE_COLUMNS = [
  'ts_ms',
  'seq',
  'metrics',
  'lat',
  'lon',
  'alt_m',
  'heading_deg',
  'speed_kmh',
  'accuracy_m',
] as const;

/** A `samples` row as a processor sample. */
export function toProcessorSample(r: {
  ts_ms: number;
  seq: number;
  metrics: string;
  lat: number | null;
  lon: number | null;
  alt_m: number | null;
  heading_deg: number | null;
  speed_kmh: number | null;
  accuracy_m: number | null;
}): ProcessorSample {
  const tsMs = Number(r.ts_ms);
  const seq = Number(r.seq);
  const metrics = JSON.parse(r.metrics) as Record<string, MetricValue>;
  const position = positionOf(r.lat, r.lon, r.alt_m, r.heading_deg, r.speed_kmh, r.accuracy_m);
  return position ? { tsMs, seq, metrics, position } : { tsMs, seq, metrics };
}

/** A stored position's columns as a `Position` (null or NaN: absent); none without latitude and longitude. */
export function positionOf(
  lat: number | null,
  lon: number | null,
  alt: number | null,
  heading: number | null,
  speed: number | null,
  accuracy: number | null,
): Position | undefined {
  if (!present(lat) || !present(lon)) return undefined;
  const position: { -readonly [K in keyof Position]: Position[K] } = { lat, lon };
  if (present(alt)) position.alt_m = alt;
  if (present(heading)) position.heading_deg = heading;
  if (present(speed)) position.speed_kmh = speed;
  if (present(accuracy)) position.accuracy_m = accuracy;
  return position;
}

function present(value: number | null): value is number {
  return value !== null && !Number.isNaN(value);
}
