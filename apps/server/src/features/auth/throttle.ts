import { sql } from 'kysely';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';

interface Policy {
  /** Failures allowed before any delay. */
  free: number;
  /** Longest delay: a lock-out never lasts longer, so an attacker cannot shut a user out for good. */
  maxDelayMs: number;
}

/** Per account: a person mistyping a few times never waits; a guesser waits 1 s, 2 s, 4 s … 5 min. */
const ACCOUNT: Policy = { free: 5, maxDelayMs: 5 * 60_000 };
/** Per client address: more room (a household behind one NAT), then the same growth up to 15 min. */
const ADDRESS: Policy = { free: 20, maxDelayMs: 15 * 60_000 };
/** Failures older than this are forgotten. */
const WINDOW_MS = 60 * 60_000;
/** A key's shared count is read again when this instance's copy is older than this. */
const REFRESH_MS = 1000;
/** How often this instance's changes are written to the shared table, all in one transaction. */
const FLUSH_MS = 1000;
/** Keys per read query (well under every engine's limit on parameters). */
const READ_CHUNK = 500;

function delayMs(failures: number, policy: Policy): number {
  if (failures < policy.free) return 0;
  return Math.min(1000 * 2 ** (failures - policy.free), policy.maxDelayMs);
}

interface Count {
  failures: number;
  lastMs: number;
}

/** What this instance knows of a key's failures: the shared row as last read plus its own since. */
interface Entry extends Count {
  readMs: number;
}

/** This instance's failures of a key not yet written to the shared table. */
interface Pending {
  add: number;
  /** When the first and the last of them happened. */
  firstMs: number;
  lastMs: number;
  /** The account's failures were forgotten (a right password) before `add` was counted. */
  clear: boolean;
}

function live(count: Count | undefined, now: number): number {
  return !count || now - count.lastMs > WINDOW_MS ? 0 : count.failures;
}

/** An attempt that may go ahead, counted (as if it failed) until it says how it ended; once. */
export interface Reservation {
  readonly allowed: true;
  /** The password was wrong: a failure of the account and the address. */
  failed(): void;
  /** The password was right: the account's failures are forgotten. */
  succeeded(): void;
  /** The password was not checked (busy, or the database failed): the attempt does not count. */
  release(): void;
}

/** The answer to "may this attempt go ahead?": a reservation, or how long to wait (not counted). */
export type Attempt = Reservation | { readonly allowed: false; readonly waitMs: number };

/**
 * Failed-login throttling with growing delays, per account and per client address.
 *
 * An attempt is counted before its password is checked, in the same synchronous step that decides
 * whether it may go ahead: while it is checked it counts as a failure that happened just now, so parallel
 * guesses are counted one after the other and no more of them reach the password check than the delays
 * allow (issue 24.5). Once checked, it becomes a failure, or a success that clears the account's count.
 * A throttled attempt is not verified and not counted.
 *
 * The counts live in memory and are written to `login_throttle` once a second in one transaction, so a
 * flood of failures costs no commit each (on SQLite, a synchronous fsync on the event loop) and never
 * contends with the telemetry writer for the database (issue 24.7). Other instances see them through
 * that table: a key's shared count is read again when this instance's copy is over a second old, so N
 * instances together allow at most what one allows plus what the others are checking or counted in the
 * last second or two (decision 0014).
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  /** Attempts of this instance being checked now, per key: they count until they end. */
  private readonly inflight = new Map<string, number>();
  private pending = new Map<string, Pending>();
  private readonly reading = new Map<string, Promise<void>>();
  private nextRead: { keys: string[]; done: Promise<void> } | null = null;
  /** Reads and flushes run one at a time, so a read never sees a flush half done. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
    options: { flushEveryMs?: number } = {},
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushEveryMs ?? FLUSH_MS);
    this.timer.unref();
  }

  /** Counts this attempt against the account and the address, or says how long to wait (not counted). */
  async reserve(email: string, ip: string): Promise<Attempt> {
    const account = `email:${email}`;
    const address = `ip:${ip}`;
    await this.load([account, address]);
    // Nothing awaits from here on: the check and the count are one step.
    const now = this.clock.now();
    const waitMs = Math.max(this.waitMs(account, ACCOUNT, now), this.waitMs(address, ADDRESS, now));
    if (waitMs > 0) return { allowed: false, waitMs };
    this.begin(account);
    this.begin(address);
    let ended = false;
    const end = (outcome: () => void) => {
      if (ended) return;
      ended = true;
      this.finish(account);
      this.finish(address);
      outcome();
    };
    return {
      allowed: true,
      failed: () =>
        end(() => {
          const at = this.clock.now();
          this.fail(account, at);
          this.fail(address, at);
        }),
      succeeded: () => end(() => this.clear(account)),
      release: () => end(() => {}),
    };
  }

  /** Writes what is pending and stops the timer (at shutdown, before the database closes). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes this instance's changes to the shared table in one transaction; kept for later if that fails. */
  flush(): Promise<void> {
    return this.serially(async () => {
      const now = this.clock.now();
      const batch = this.pending;
      this.pending = new Map();
      if (batch.size > 0) {
        try {
          await this.db.transaction().execute(async (trx) => {
            for (const [key, change] of batch) await this.write(trx, key, change);
          });
        } catch (error) {
          this.keepForLater(batch);
          this.logger.warn({ err: error }, 'login throttle counts not saved; retrying in a second');
        }
      }
      this.prune(now);
    });
  }

  /** How long the key must wait, counting each attempt being checked as a failure of just now. */
  private waitMs(key: string, policy: Policy, now: number): number {
    const inflight = this.inflight.get(key) ?? 0;
    if (inflight > 0) return delayMs(live(this.entries.get(key), now) + inflight, policy);
    const entry = this.entries.get(key);
    const failures = live(entry, now);
    return entry && failures > 0 ? entry.lastMs + delayMs(failures, policy) - now : 0;
  }

  private begin(key: string): void {
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
  }

  private finish(key: string): void {
    const left = (this.inflight.get(key) ?? 1) - 1;
    if (left > 0) this.inflight.set(key, left);
    else this.inflight.delete(key);
  }

  /** Counts a failure here and for the shared table. A copy forgotten meanwhile is read again next time. */
  private fail(key: string, now: number): void {
    const entry = this.entries.get(key);
    if (entry) {
      entry.failures = live(entry, now) + 1;
      entry.lastMs = now;
    }
    const pending = this.pending.get(key) ?? { add: 0, firstMs: now, lastMs: now, clear: false };
    if (pending.add === 0) pending.firstMs = now;
    pending.add += 1;
    pending.lastMs = now;
    this.pending.set(key, pending);
  }

  private clear(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.failures = 0;
    this.pending.set(key, { add: 0, firstMs: 0, lastMs: 0, clear: true });
  }

  /** Makes sure this instance's copy of each key is at most REFRESH_MS old; one read per key at a time. */
  private async load(keys: string[]): Promise<void> {
    const now = this.clock.now();
    const stale = keys.filter((key) => {
      const entry = this.entries.get(key);
      return !entry || now - entry.readMs > REFRESH_MS;
    });
    const toRead = stale.filter((key) => !this.reading.has(key));
    if (toRead.length > 0) {
      const read = this.readSoon(toRead);
      const done = () => {
        for (const key of toRead) if (this.reading.get(key) === read) this.reading.delete(key);
      };
      read.then(done, done);
      for (const key of toRead) this.reading.set(key, read);
    }
    await Promise.all(stale.map((key) => this.reading.get(key)));
  }

  /**
   * Joins the next read, which starts when the one in progress (or a flush) is done: a flood of attempts
   * for many accounts costs a few queries, not one each.
   */
  private readSoon(keys: string[]): Promise<void> {
    if (!this.nextRead) {
      const next = { keys: [] as string[], done: Promise.resolve() };
      next.done = this.serially(() => {
        this.nextRead = null;
        return this.read(next.keys);
      });
      this.nextRead = next;
    }
    this.nextRead.keys.push(...keys);
    return this.nextRead.done;
  }

  /** The shared rows of these keys, with this instance's unwritten changes on top. */
  private async read(keys: string[]): Promise<void> {
    const rows = [];
    for (let i = 0; i < keys.length; i += READ_CHUNK) {
      const chunk = keys.slice(i, i + READ_CHUNK);
      rows.push(
        ...(await this.db.selectFrom('login_throttle').selectAll().where('key', 'in', chunk).execute()),
      );
    }
    const byKey = new Map(rows.map((row) => [row.key, row]));
    const now = this.clock.now();
    for (const key of keys) {
      const row = byKey.get(key);
      const pending = this.pending.get(key);
      const shared =
        row && !pending?.clear ? { failures: row.failures, lastMs: Number(row.last_failure_ms) } : undefined;
      this.entries.set(key, {
        failures: Math.max(0, live(shared, now) + (pending?.add ?? 0)),
        lastMs: Math.max(shared?.lastMs ?? 0, pending?.lastMs ?? 0),
        readMs: now,
      });
    }
  }

  private async write(trx: Db, key: string, change: Pending): Promise<void> {
    if (change.clear) await trx.deleteFrom('login_throttle').where('key', '=', key).execute();
    // The shared count had expired when the first of these failures happened: they start it afresh.
    const staleBefore = change.firstMs - WINDOW_MS;
    if (change.add > 0) {
      await trx
        .insertInto('login_throttle')
        .values({
          key,
          failures: change.add,
          first_failure_ms: change.lastMs,
          last_failure_ms: change.lastMs,
        })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            // One statement, so instances writing the same key at once each add their count.
            failures: sql<number>`case when login_throttle.last_failure_ms < ${staleBefore} then ${change.add} else login_throttle.failures + ${change.add} end`,
            first_failure_ms: sql<number>`case when login_throttle.last_failure_ms < ${staleBefore} then ${change.lastMs} else login_throttle.first_failure_ms end`,
            last_failure_ms: sql<number>`case when login_throttle.last_failure_ms > ${change.lastMs} then login_throttle.last_failure_ms else ${change.lastMs} end`,
          }),
        )
        .execute();
    }
  }

  /** Puts a batch that could not be written back in front of what was counted since. */
  private keepForLater(batch: Map<string, Pending>): void {
    for (const [key, earlier] of batch) {
      const later = this.pending.get(key);
      if (!later) this.pending.set(key, earlier);
      else if (!later.clear) {
        if (earlier.add > 0)
          later.firstMs = later.add > 0 ? Math.min(later.firstMs, earlier.firstMs) : earlier.firstMs;
        later.add += earlier.add;
        later.lastMs = Math.max(later.lastMs, earlier.lastMs);
        later.clear = earlier.clear;
      }
    }
  }

  /** Forgets copies nobody used lately; the shared table has them. */
  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      const idle = now - entry.readMs > 2 * REFRESH_MS && !this.pending.has(key) && !this.inflight.has(key);
      if (idle) this.entries.delete(key);
    }
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => {});
    return run;
  }
}
