import { createHmac } from 'node:crypto';
import type { LoginView } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { LoginMethod } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { newId, randomToken, sha256 } from '../../lib/crypto.js';
import { NotFound } from '../../lib/errors.js';
import type { EventBus } from '../../lib/events.js';
import type { AccessTokens } from './access-token.js';
import type { Audit } from './audit.js';

export const LOGIN_ABSOLUTE_MS = 30 * 86_400_000;
export const LOGIN_IDLE_MS = 7 * 86_400_000;
/** Two tabs refreshing at once: the second presents the token the first just used. */
export const REFRESH_GRACE_MS = 10_000;

export interface IssuedLogin {
  userId: string;
  loginId: string;
  refreshToken: string;
  /** When the login ends at the latest (the refresh cookie's lifetime). */
  loginExpiresMs: number;
  access: { token: string; expiresMs: number };
}

/**
 * Browser and CLI logins: each is a family of single-use refresh tokens. Only hashes are stored. The
 * successor of a refresh token is derived from it with a server key, so a request that loses the race
 * for a rotation can hand out the same successor within the grace window without the server keeping
 * any token in clear.
 */
export class Logins {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: EventBus,
    private readonly audit: Audit,
    private readonly accessTokens: AccessTokens,
    private readonly successorKey: Uint8Array,
  ) {}

  private successorOf(token: string): string {
    return createHmac('sha256', this.successorKey).update(`refresh-successor:${token}`).digest('base64url');
  }

  /** Starts a login for a user whose password (or setup token, or provider sign-in) was just checked. */
  async start(
    userId: string,
    device: string,
    ip: string | null,
    method: LoginMethod = 'password',
  ): Promise<IssuedLogin> {
    const now = this.clock.now();
    const loginId = newId();
    const refreshToken = randomToken(32);
    const loginExpiresMs = now + LOGIN_ABSOLUTE_MS;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('logins')
        .values({
          id: loginId,
          user_id: userId,
          device,
          ip,
          created_ms: now,
          last_used_ms: now,
          expires_ms: loginExpiresMs,
          revoked_ms: null,
          revoked_reason: null,
          method,
        })
        .execute();
      await trx
        .insertInto('refresh_tokens')
        .values({
          id: newId(),
          login_id: loginId,
          token_hash: sha256(refreshToken),
          created_ms: now,
          used_ms: null,
          successor_id: null,
        })
        .execute();
    });
    const access = await this.accessTokens.sign(userId, loginId);
    return { userId, loginId, refreshToken, loginExpiresMs, access };
  }

  /**
   * Exchanges a refresh token for its successor and a new access token. Each token works once: the
   * conditional update (`used_ms is null`) lets exactly one of any number of parallel requests rotate;
   * the others, and any repeat within the grace window, get that same successor. A used token presented
   * later is a theft signal: the whole login ends. Null when the token is unknown, ended or expired.
   */
  async refresh(refreshToken: string, ip: string | null): Promise<IssuedLogin | null> {
    if (refreshToken.length > 100) return null;
    const row = await this.db
      .selectFrom('refresh_tokens')
      .innerJoin('logins', 'logins.id', 'refresh_tokens.login_id')
      .innerJoin('users', 'users.id', 'logins.user_id')
      .select([
        'refresh_tokens.id',
        'refresh_tokens.used_ms',
        'logins.id as login_id',
        'logins.user_id',
        'logins.revoked_ms',
        'logins.expires_ms',
        'logins.last_used_ms',
        'users.disabled_ms',
      ])
      .where('refresh_tokens.token_hash', '=', sha256(refreshToken))
      .executeTakeFirst();
    if (!row) return null;
    const now = this.clock.now();
    if (row.revoked_ms !== null || row.disabled_ms !== null) return null;
    if (now >= row.expires_ms || now - row.last_used_ms > LOGIN_IDLE_MS) return null;

    const successor = this.successorOf(refreshToken);
    let rotated = false;
    if (row.used_ms === null) {
      rotated = await this.db.transaction().execute(async (trx) => {
        const successorId = newId();
        const claimed = await trx
          .updateTable('refresh_tokens')
          .set({ used_ms: now, successor_id: successorId })
          .where('id', '=', row.id)
          .where('used_ms', 'is', null)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) return false;
        await trx
          .insertInto('refresh_tokens')
          .values({
            id: successorId,
            login_id: row.login_id,
            token_hash: sha256(successor),
            created_ms: now,
            used_ms: null,
            successor_id: null,
          })
          .execute();
        await trx
          .updateTable('logins')
          .set({ last_used_ms: now, ...(ip ? { ip } : {}) })
          .where('id', '=', row.login_id)
          .execute();
        return true;
      });
    }
    if (!rotated && !(await this.withinGrace(row.id, successor, now))) {
      await this.end(row.login_id, row.user_id, 'refresh_token_reused');
      this.audit.log('refresh.reused', { userId: row.user_id, loginId: row.login_id, ip });
      return null;
    }
    const access = await this.accessTokens.sign(row.user_id, row.login_id);
    return {
      userId: row.user_id,
      loginId: row.login_id,
      refreshToken: successor,
      loginExpiresMs: row.expires_ms,
      access,
    };
  }

  /** Whether a used token may still be answered with its successor: recently used and the successor unused. */
  private async withinGrace(tokenId: string, successor: string, now: number): Promise<boolean> {
    const used = await this.db
      .selectFrom('refresh_tokens as t')
      .innerJoin('refresh_tokens as s', 's.id', 't.successor_id')
      .select(['t.used_ms', 's.token_hash', 's.used_ms as successor_used_ms'])
      .where('t.id', '=', tokenId)
      .executeTakeFirst();
    if (!used || used.used_ms === null) return false;
    return (
      now - used.used_ms <= REFRESH_GRACE_MS &&
      used.successor_used_ms === null &&
      used.token_hash === sha256(successor)
    );
  }

  /** The login a refresh token belongs to (for logout), or null. */
  async loginOfRefreshToken(refreshToken: string): Promise<{ loginId: string; userId: string } | null> {
    const row = await this.db
      .selectFrom('refresh_tokens')
      .innerJoin('logins', 'logins.id', 'refresh_tokens.login_id')
      .select(['logins.id', 'logins.user_id'])
      .where('refresh_tokens.token_hash', '=', sha256(refreshToken))
      .executeTakeFirst();
    return row ? { loginId: row.id, userId: row.user_id } : null;
  }

  /** Ends one login: its refresh tokens stop working and its access tokens are refused at once. */
  async end(loginId: string, userId: string, reason: string): Promise<boolean> {
    const result = await this.db
      .updateTable('logins')
      .set({ revoked_ms: this.clock.now(), revoked_reason: reason })
      .where('id', '=', loginId)
      .where('user_id', '=', userId)
      .where('revoked_ms', 'is', null)
      .executeTakeFirst();
    const ended = Number(result.numUpdatedRows) > 0;
    if (ended) {
      this.audit.log('login.ended', { userId, loginId, reason });
      this.events.emit('login.ended', { loginId, userId, reason });
    }
    return ended;
  }

  /** Ends one of the user's logins by id; 404 when it is not theirs or already over. */
  async endOwn(userId: string, loginId: string): Promise<void> {
    if (!(await this.end(loginId, userId, 'logged_out_elsewhere'))) throw new NotFound('no such login');
  }

  /**
   * Ends every login of the user and refuses every access token issued until now: "log out everywhere",
   * password change, disabling. API tokens are not logins and stay (disabling refuses them separately).
   */
  async endAll(userId: string, reason: string): Promise<void> {
    const now = this.clock.now();
    const open = await this.db
      .selectFrom('logins')
      .select('id')
      .where('user_id', '=', userId)
      .where('revoked_ms', 'is', null)
      .execute();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ tokens_valid_after_ms: now, updated_ms: now })
        .where('id', '=', userId)
        .execute();
      await trx
        .updateTable('logins')
        .set({ revoked_ms: now, revoked_reason: reason })
        .where('user_id', '=', userId)
        .where('revoked_ms', 'is', null)
        .execute();
    });
    this.audit.log('logins.ended_all', { userId, reason, count: open.length });
    for (const { id } of open) this.events.emit('login.ended', { loginId: id, userId, reason });
  }

  /** The user's active logins, most recently used first. */
  async list(userId: string, currentLoginId: string | undefined): Promise<LoginView[]> {
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('logins')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_ms', 'is', null)
      .where('expires_ms', '>', now)
      .where('last_used_ms', '>=', now - LOGIN_IDLE_MS)
      .orderBy('last_used_ms', 'desc')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      device: r.device,
      ip: r.ip,
      createdMs: r.created_ms,
      lastUsedMs: r.last_used_ms,
      current: r.id === currentLoginId,
      method: r.method ?? 'password',
    }));
  }
}
