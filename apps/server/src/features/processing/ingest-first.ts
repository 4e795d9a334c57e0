import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** When passes wait and how much of the thread's time their rounds take (see `IngestFirst`). */
export const INGEST_FIRST = {
  /** Saturated from this share of all cores on, and until it falls below `below`. */
  above: 0.45,
  below: 0.38,
  /** Below this share the server is quiet: rounds take all of the thread's time, else `busyDuty`. */
  quiet: 0.15,
  busyDuty: 0.25,
  maxWaitMs: 10_000,
  /** The shortest time a share is computed over. */
  sampleMs: 250,
};

export type IngestFirstOptions = typeof INGEST_FIRST & { cores: number };

/**
 * Ingest first (decision 0034): while the rest of the server keeps the machine's cores busy (a burst: an
 * HTTP backfill, a flood of messages after a broker reconnect), the processing thread's passes wait, so
 * the burst is stored at full speed and what is derived from it follows. The thread's low priority alone
 * did not do it: on two cores a pass still took a third of a core beside a burst, and the burst's
 * requests, each crossing the main thread and the writer thread, waited for it.
 *
 * Passes never wait longer than `maxWaitMs` in a row: then one runs to its end, whatever the load.
 * Below the threshold (10,000 messages a second keep about a third of two cores busy) they never wait.
 *
 * While the rest of the server works (from `quiet` on), a pass's rounds take only a share of the thread's
 * time (`duty`, decision 0035): a pass at full speed held a core for up to a second or two, and the
 * messages that arrived meanwhile were the slowest of all; the same work spread out costs every message a
 * little instead. A quiet server (a restart's catch-up, processing alone) gets the thread's whole time.
 */
export class IngestFirst {
  private share = 0;
  private saturated = false;
  /** Since when passes have waited (null: they do not). */
  private waitingSinceMs: number | null = null;
  private seen: { atMs: number; busyMs: number } | null = null;
  /** The CPU time could not be read (not Linux): passes never wait. */
  private unreadable = false;

  constructor(
    /** The time (ms) the rest of the server has kept a core busy, in all; null where it cannot be read. */
    private readonly busyMs: () => number | null,
    private readonly options: IngestFirstOptions = { ...INGEST_FIRST, cores: availableParallelism() },
  ) {}

  /**
   * At the start of a pass: whether it waits, runs (and may stop between rounds), or, after `maxWaitMs`
   * of waiting, runs to its end whatever the load.
   */
  passStarts(now = Date.now()): 'wait' | 'run' | 'run to the end' {
    if (!this.busy(now)) {
      this.waitingSinceMs = null;
      return 'run';
    }
    this.waitingSinceMs ??= now;
    if (now - this.waitingSinceMs < this.options.maxWaitMs) return 'wait';
    this.waitingSinceMs = null;
    return 'run to the end';
  }

  /** Between the rounds of a pass that may stop: whether it stops here (the rest waits for the next). */
  roundWaits(now = Date.now()): boolean {
    if (!this.busy(now)) return false;
    this.waitingSinceMs ??= now;
    return true;
  }

  /**
   * The share of the thread's time rounds may take now (the runner rests t × (1 − duty) / duty ms after
   * a round of t ms): all of it on a quiet server, `busyDuty` beside other work.
   */
  duty(now = Date.now()): number {
    this.busy(now);
    return this.unreadable || this.share < this.options.quiet ? 1 : this.options.busyDuty;
  }

  private busy(now: number): boolean {
    // Read the CPU time only once a sample is due (the read costs ~0.1 ms; rounds take about as long).
    if (this.unreadable) return false;
    const seen = this.seen;
    if (seen === null || now < seen.atMs || now - seen.atMs >= this.options.sampleMs) {
      const busyMs = this.busyMs();
      if (busyMs === null) {
        this.unreadable = true;
        return false;
      }
      if (seen !== null && now > seen.atMs) {
        const share = (busyMs - seen.busyMs) / (now - seen.atMs) / this.options.cores;
        // Averaged with the share before: one quiet moment does not end a burst.
        this.share = (this.share + Math.max(0, share)) / 2;
      }
      this.seen = { atMs: now, busyMs };
    }
    this.saturated = this.saturated ? this.share >= this.options.below : this.share >= this.options.above;
    return this.saturated;
  }
}

/**
 * The CPU time (ms) this process has used in all, except the calling thread's; null where that cannot
 * be read.
 */
export function restOfProcessCpuMs(): number | null {
  const own = threadCpuMs();
  if (own === null) return null;
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000 - own;
}

/** The calling thread's CPU time (ms; Linux: `/proc/thread-self/stat`, in 10 ms ticks); null elsewhere. */
export function threadCpuMs(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    // Fields after the command name (which may hold spaces): state, …, utime (14th), stime (15th).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * TICK_MS : null;
  } catch {
    return null;
  }
}

/** Linux reports thread times in clock ticks of 1/100 s (USER_HZ, the same on every architecture). */
const TICK_MS = 10;
