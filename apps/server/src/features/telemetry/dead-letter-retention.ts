import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { DeadLetterLimits, PruneResult } from './dead-letters.repo.js';

/** How often dead letters are checked against their limits; a check with nothing to drop is two reads. */
const PRUNE_EVERY_MS = 30_000;

/**
 * Steps one run takes at most (`PRUNE_STEP_ROWS` each): a flood of refused messages faster than this is
 * caught up with over the next runs, and the batches keep flowing between steps meanwhile.
 */
const MAX_STEPS_PER_RUN = 200;

/** What one run dropped, by reason. */
export interface PruneTotals {
  age: number;
  size: number;
}

/**
 * Keeps the dead letters within their age and size limits, apart from the ingest path: every
 * `PRUNE_EVERY_MS` it asks the writer for bounded pruning steps (dead-letters.repo.ts) until nothing is
 * due. On SQLite the writer thread runs each step between batches, so a batch waits for at most one
 * step; on PostgreSQL a step is one short transaction of its own. Counts what it drops in
 * `tacho_dead_letters_dropped_total{reason="age"|"size"}`.
 * Decision record: docs/decisions/0018-dead-letter-retention.md.
 */
export class DeadLetterRetention {
  private readonly dropped: Counter<'reason'>;
  private readonly kept: Gauge;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PruneTotals> | null = null;
  private closed = false;

  constructor(
    private readonly deps: {
      prune(limits: DeadLetterLimits, nowMs: number): Promise<PruneResult>;
      clock: Clock;
      logger: Logger;
      registry: Registry;
    },
    private readonly limits: DeadLetterLimits,
  ) {
    const registers = [deps.registry];
    this.dropped = new Counter({
      name: 'tacho_dead_letters_dropped_total',
      help: 'Dead letters deleted to keep within TACHO_DEAD_LETTER_MAX_AGE_DAYS (age) or _MAX_MB (size)',
      labelNames: ['reason'] as const,
      registers,
    });
    // Both series exist from the start, so a dashboard can tell "none dropped" from "not reported".
    this.dropped.inc({ reason: 'age' }, 0);
    this.dropped.inc({ reason: 'size' }, 0);
    this.kept = new Gauge({
      name: 'tacho_dead_letters_kept_bytes',
      help: 'Weight of the dead letters kept, as of the last retention check (counts against _MAX_MB)',
      registers,
    });
    this.schedule();
  }

  /**
   * Drops what is due now and resolves with how many were dropped; one run at a time (a second call
   * while one runs gets that run). The timer calls it; tests call it after moving their clock.
   */
  run(): Promise<PruneTotals> {
    this.running ??= this.steps().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops the timer and waits for a run in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run().finally(() => this.schedule());
    }, PRUNE_EVERY_MS);
    // The server's own lifetime decides when to stop; a pending check must not keep it alive.
    this.timer.unref();
  }

  private async steps(): Promise<PruneTotals> {
    const totals: PruneTotals = { age: 0, size: 0 };
    try {
      for (let step = 0; step < MAX_STEPS_PER_RUN && !this.closed; step++) {
        const result = await this.deps.prune(this.limits, this.deps.clock.now());
        totals.age += result.age;
        totals.size += result.size;
        if (result.age > 0) this.dropped.inc({ reason: 'age' }, result.age);
        if (result.size > 0) this.dropped.inc({ reason: 'size' }, result.size);
        this.kept.set(result.keptBytes);
        if (!result.more) break;
      }
    } catch (error) {
      // Nothing is lost by waiting: the next run starts where this one stopped.
      if (!this.closed) this.deps.logger.warn({ err: error }, 'dead-letter retention failed; retrying later');
    }
    if (totals.age + totals.size > 0) this.deps.logger.info(totals, 'old dead letters dropped');
    return totals;
  }
}
