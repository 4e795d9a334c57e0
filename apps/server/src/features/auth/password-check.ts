import type { User } from '../../db/index.js';
import { Forbidden, TooManyRequests, Unauthorized, Unavailable } from '../../lib/errors.js';
import type { Audit } from './audit.js';
import type { PasswordHasher } from './password-hasher.js';
import { dummyHash, needsRehash } from './passwords.js';
import type { LoginThrottle, Reservation } from './throttle.js';
import { normalizeEmail, type Users } from './users.js';

/**
 * Checks an email and password. Unknown email, wrong password and disabled account get the same reply,
 * and each runs one argon2 verification, so neither the answer nor its timing tells them apart.
 *
 * Each attempt is counted by the throttle before its password is checked (parallel guesses cannot all
 * pass a check none of them has counted yet), and the check waits its turn in the hasher's bounded
 * queue: 503 `busy` beyond it.
 */
export class PasswordCheck {
  constructor(
    private readonly users: Users,
    private readonly throttle: LoginThrottle,
    private readonly hasher: PasswordHasher,
    private readonly audit: Audit,
  ) {}

  async check(emailInput: string, password: string, ip: string): Promise<User> {
    const email = normalizeEmail(emailInput);
    // Refused before any database work: a flood beyond the queue costs nothing more.
    this.hasher.refuseWhenFull();
    const attempt = await this.throttle.reserve(email, ip);
    if (!attempt.allowed) {
      const retryAfterS = Math.ceil(attempt.waitMs / 1000);
      this.audit.log('login.throttled', { email, ip, retryAfterS });
      throw new TooManyRequests(`too many failed logins: try again in ${retryAfterS} s`, retryAfterS);
    }
    const { user, ok } = await checked(attempt, async () => {
      const user = await this.users.byEmail(email);
      return { user, ok: await this.hasher.verify(user?.password_hash ?? (await dummyHash()), password) };
    });
    if (!user?.password_hash || !ok || user.disabled_ms !== null) {
      attempt.failed();
      const reason = !user
        ? 'unknown_email'
        : user.disabled_ms !== null && ok
          ? 'disabled'
          : 'wrong_password';
      this.audit.log('login.failed', { email, ip, reason, ...(user ? { userId: user.id } : {}) });
      throw new Unauthorized('wrong email or password', 'invalid_credentials');
    }
    attempt.succeeded();
    if (user.provider_only_ms) {
      // Said only to whoever knows the password: it reveals no more than a successful login would.
      this.audit.log('login.failed', { email, ip, reason: 'provider_only', userId: user.id });
      throw new Forbidden('this account signs in with its OpenID provider only', 'provider_only');
    }
    if (needsRehash(user.password_hash)) await this.rehash(user, password);
    return user;
  }

  /**
   * Confirms the signed-in user's current password (before a password change), throttled like a login
   * so a borrowed session cannot be used to guess it.
   */
  async confirm(user: User, password: string, ip: string): Promise<void> {
    this.hasher.refuseWhenFull();
    const attempt = await this.throttle.reserve(user.email, ip);
    if (!attempt.allowed) {
      const retryAfterS = Math.ceil(attempt.waitMs / 1000);
      throw new TooManyRequests(`too many wrong passwords: try again in ${retryAfterS} s`, retryAfterS);
    }
    const hash = user.password_hash;
    const ok = hash !== null && (await checked(attempt, () => this.hasher.verify(hash, password)));
    if (ok) {
      attempt.succeeded();
      return;
    }
    attempt.failed();
    this.audit.log('login.failed', {
      email: user.email,
      userId: user.id,
      ip,
      reason: 'wrong_current_password',
    });
    throw new Forbidden('the current password is wrong', 'invalid_credentials');
  }

  /**
   * The password is at hand only now: bring an old, weaker hash up to today's parameters. When the
   * hasher is busy this waits for the next login; the login itself has succeeded.
   */
  private async rehash(user: User, password: string): Promise<void> {
    try {
      await this.users.setPasswordHash(user.id, await this.hasher.hash(password));
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
    }
  }
}

/** Runs the password check of an attempt; when it could not run (busy, database down) the attempt is given back. */
async function checked<T>(attempt: Reservation, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    attempt.release();
    throw error;
  }
}
