import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256 } from '../../lib/crypto.js';
import { Invalid } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Audit } from './audit.js';
import type { Users } from './users.js';

export const SETUP_TTL_MS = 30 * 60_000;
const SETUP_KEY_PREFIX = 'auth.setup:';

/**
 * First start. No default password ever: with TACHO_ADMIN_EMAIL/PASSWORD the admin is created; without,
 * a one-time setup token (valid 30 minutes, stored hashed in `settings` so any instance accepts it) lets
 * the first person to open the printed link choose the admin's password.
 */
export class FirstStart {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly users: Users,
    private readonly audit: Audit,
  ) {}

  /** Runs at start: answers the setup URL to print, or null when an admin exists or was just created. */
  async prepare(config: Config, logger: Logger): Promise<string | null> {
    if ((await this.users.count()) > 0) return null;
    if (config.adminEmail && config.adminPassword) {
      try {
        const admin = await this.users.insert({
          email: config.adminEmail,
          name: 'Admin',
          password: config.adminPassword,
          role: 'admin',
        });
        this.audit.log('user.created', { targetUserId: admin.id, role: 'admin', via: 'TACHO_ADMIN_EMAIL' });
        logger.info({ email: admin.email }, 'created the first admin from TACHO_ADMIN_EMAIL');
      } catch (error) {
        // Another instance starting at the same moment created it.
        if ((await this.users.count()) === 0) throw error;
      }
      return null;
    }
    const token = randomToken(32);
    const now = this.clock.now();
    // Links printed by earlier starts that nobody used: forget the expired ones.
    const old = await this.db
      .selectFrom('settings')
      .select(['key', 'value'])
      .where('key', 'like', `${SETUP_KEY_PREFIX}%`)
      .execute();
    const expired = old.filter((row) => Number(row.value) <= now).map((row) => row.key);
    if (expired.length > 0) await this.db.deleteFrom('settings').where('key', 'in', expired).execute();
    await this.db
      .insertInto('settings')
      .values({
        key: `${SETUP_KEY_PREFIX}${sha256(token)}`,
        value: String(now + SETUP_TTL_MS),
        updated_ms: now,
      })
      .execute();
    return `${config.publicUrl}/setup?token=${encodeURIComponent(token)}`;
  }

  /** Whether no user exists yet: the login page then says where the setup link is. */
  async needed(): Promise<boolean> {
    return (await this.users.count()) === 0;
  }

  async isValid(token: string): Promise<boolean> {
    if (token.length > 200) return false;
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', `${SETUP_KEY_PREFIX}${sha256(token)}`)
      .executeTakeFirst();
    return row !== undefined && Number(row.value) > this.clock.now() && (await this.users.count()) === 0;
  }

  /** Creates the first admin with the setup token, which (and every other setup token) is then spent. */
  async complete(input: { token: string; email: string; name: string; password: string }) {
    if (!(await this.isValid(input.token)))
      throw new Invalid(
        'the setup link is invalid or has expired: restart the server for a new one',
        'invalid_setup_token',
      );
    // Deleting the token is the claim: of two requests racing with it, only one deletes a row.
    const claimed = await this.db
      .deleteFrom('settings')
      .where('key', '=', `${SETUP_KEY_PREFIX}${sha256(input.token)}`)
      .executeTakeFirst();
    if (Number(claimed.numDeletedRows) !== 1)
      throw new Invalid('the setup link has been used already', 'invalid_setup_token');
    const admin = await this.users.insert({ ...input, role: 'admin' });
    await this.db.deleteFrom('settings').where('key', 'like', `${SETUP_KEY_PREFIX}%`).execute();
    this.audit.log('setup.completed', { userId: admin.id });
    return admin;
  }
}
