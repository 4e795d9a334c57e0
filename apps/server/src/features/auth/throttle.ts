import { sql } from 'kysely';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';

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

function delayMs(failures: number, policy: Policy): number {
  if (failures < policy.free) return 0;
  return Math.min(1000 * 2 ** (failures - policy.free), policy.maxDelayMs);
}

/**
 * Failed-login throttling with growing delays, kept in the database so every instance sees the same
 * counts. A throttled attempt is not verified and does not count as a failure.
 */
export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Milliseconds to wait before the next attempt for this account or address; 0 = go ahead. */
  async waitMs(email: string, ip: string): Promise<number> {
    const keys = [`email:${email}`, `ip:${ip}`];
    const rows = await this.db.selectFrom('login_throttle').selectAll().where('key', 'in', keys).execute();
    const now = this.clock.now();
    let wait = 0;
    for (const row of rows) {
      if (now - row.last_failure_ms > WINDOW_MS) continue;
      const policy = row.key.startsWith('email:') ? ACCOUNT : ADDRESS;
      wait = Math.max(wait, row.last_failure_ms + delayMs(row.failures, policy) - now);
    }
    return wait;
  }

  async recordFailure(email: string, ip: string): Promise<void> {
    const now = this.clock.now();
    const staleBefore = now - WINDOW_MS;
    for (const key of [`email:${email}`, `ip:${ip}`]) {
      await this.db
        .insertInto('login_throttle')
        .values({ key, failures: 1, first_failure_ms: now, last_failure_ms: now })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            // One statement, so parallel failures each count (no read-modify-write race).
            failures: sql<number>`case when login_throttle.last_failure_ms < ${staleBefore} then 1 else login_throttle.failures + 1 end`,
            first_failure_ms: sql<number>`case when login_throttle.last_failure_ms < ${staleBefore} then ${now} else login_throttle.first_failure_ms end`,
            last_failure_ms: now,
          }),
        )
        .execute();
    }
  }

  /** A correct password clears the account's failures (the address keeps its count). */
  async recordSuccess(email: string): Promise<void> {
    await this.db.deleteFrom('login_throttle').where('key', '=', `email:${email}`).execute();
  }
}
