import type { User } from '../../db/index.js';
import { Forbidden, TooManyRequests, Unauthorized } from '../../lib/errors.js';
import type { Audit } from './audit.js';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import type { LoginThrottle } from './throttle.js';
import { normalizeEmail, type Users } from './users.js';

/**
 * Checks an email and password. Unknown email, wrong password and disabled account get the same reply,
 * and each runs one argon2 verification, so neither the answer nor its timing tells them apart.
 */
export class PasswordCheck {
  constructor(
    private readonly users: Users,
    private readonly throttle: LoginThrottle,
    private readonly audit: Audit,
  ) {}

  async check(emailInput: string, password: string, ip: string): Promise<User> {
    const email = normalizeEmail(emailInput);
    const waitMs = await this.throttle.waitMs(email, ip);
    if (waitMs > 0) {
      const retryAfterS = Math.ceil(waitMs / 1000);
      this.audit.log('login.throttled', { email, ip, retryAfterS });
      throw new TooManyRequests(`too many failed logins: try again in ${retryAfterS} s`, retryAfterS);
    }
    const user = await this.users.byEmail(email);
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
    if (!user?.password_hash || !ok || user.disabled_ms !== null) {
      await this.throttle.recordFailure(email, ip);
      const reason = !user
        ? 'unknown_email'
        : user.disabled_ms !== null && ok
          ? 'disabled'
          : 'wrong_password';
      this.audit.log('login.failed', { email, ip, reason, ...(user ? { userId: user.id } : {}) });
      throw new Unauthorized('wrong email or password', 'invalid_credentials');
    }
    await this.throttle.recordSuccess(email);
    if (needsRehash(user.password_hash)) {
      // The password is at hand only now: bring an old, weaker hash up to today's parameters.
      await this.users.setPasswordHash(user.id, await hashPassword(password));
    }
    return user;
  }

  /**
   * Confirms the signed-in user's current password (before a password change), throttled like a login
   * so a borrowed session cannot be used to guess it.
   */
  async confirm(user: User, password: string, ip: string): Promise<void> {
    const waitMs = await this.throttle.waitMs(user.email, ip);
    if (waitMs > 0) {
      const retryAfterS = Math.ceil(waitMs / 1000);
      throw new TooManyRequests(`too many wrong passwords: try again in ${retryAfterS} s`, retryAfterS);
    }
    if (user.password_hash && (await verifyPassword(user.password_hash, password))) return;
    await this.throttle.recordFailure(user.email, ip);
    this.audit.log('login.failed', {
      email: user.email,
      userId: user.id,
      ip,
      reason: 'wrong_current_password',
    });
    throw new Forbidden('the current password is wrong', 'invalid_credentials');
  }
}
