import { randomInt } from 'node:crypto';
import type { CliClient, CliLoginToken, CliLoginView } from '@tacho/protocol';
import type { Selectable } from 'kysely';
import type { Db } from '../../db/index.js';
import type { CliLoginsTable } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { newId, randomToken, safeEqual, sha256 } from '../../lib/crypto.js';
import { AppError, Conflict, Forbidden, NotFound } from '../../lib/errors.js';
import { type ApiTokens, type Audit, type Principal, requireScope, type Users } from '../auth/index.js';

export type CliLoginRow = Selectable<CliLoginsTable>;

/** An attempt is good for 10 minutes (RFC 8628 suggests minutes, not hours). */
export const CLI_LOGIN_TTL_MS = 10 * 60_000;
/** The polling fallback's first interval; each `slow_down` adds 5 s (RFC 8628 §3.5). */
export const CLI_POLL_INTERVAL_S = 5;
/** What the token a `tacho login` makes may do, and for how long. */
export const CLI_TOKEN_SCOPES = ['read', 'write'] as const;
export const CLI_TOKEN_DAYS = 90;
/**
 * User codes: 8 letters from 20 consonants (RFC 8628 §6.1): no digits, so nothing reads as 0/O, 1/I/L
 * or 5/S, and no vowels, so no words. 20^8 ≈ 2^34.6; the code only confirms what the user sees: the
 * attempt itself is named by the 256-bit connection id.
 */
const CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;

export function newUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

/** What a person types or the page sends: case and separators do not matter. */
export function normalizeUserCode(input: string): string {
  return input.toUpperCase().replace(/[^A-Z]/g, '');
}

/** An RFC 8628 token-endpoint error, in the project's error shape: 400 with the RFC's code. */
export class PollError extends AppError {
  constructor(code: string, message: string) {
    super(400, code, message);
  }
}

function clip(value: unknown, max: number, fallback: string): string {
  if (typeof value !== 'string') return fallback;
  const clean = value.replace(/[^\x20-\x7e]/g, '').trim();
  return clean === '' ? fallback : clean.slice(0, max);
}

/** The client's own description, cleaned: printable ASCII, bounded. */
export function cleanClient(input: { host?: unknown; os?: unknown; version?: unknown }): CliClient {
  return {
    host: clip(input.host, 100, 'unknown host'),
    os: clip(input.os, 100, 'unknown OS'),
    version: clip(input.version, 40, 'unknown'),
  };
}

/**
 * `tacho login` attempts (decision 0023). The CLI opens a socket and gets a connection id (256 random
 * bits, single use, 10 minutes), a user code and a resume secret; a signed-in user confirms the code in
 * the browser; whoever then claims the attempt (the socket's instance, or the CLI's polling fallback)
 * makes the API token, once. Only hashes of the id and the secret are stored, and never the token.
 */
export class CliLogins {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly tokens: ApiTokens,
    private readonly users: Users,
  ) {}

  async create(
    client: CliClient,
    ip: string | null,
  ): Promise<{
    row: CliLoginRow;
    connectionId: string;
    resumeSecret: string;
  }> {
    const now = this.clock.now();
    const connectionId = randomToken(32);
    const resumeSecret = randomToken(32);
    const row: CliLoginRow = {
      id: newId(),
      connection_hash: sha256(connectionId),
      resume_hash: sha256(resumeSecret),
      user_code: newUserCode(),
      client: JSON.stringify(client),
      status: 'pending',
      user_id: null,
      token_id: null,
      created_ms: now,
      expires_ms: now + CLI_LOGIN_TTL_MS,
      decided_ms: null,
      last_poll_ms: null,
      poll_interval_s: CLI_POLL_INTERVAL_S,
    };
    await this.db.insertInto('cli_logins').values(row).execute();
    // Attempts over a day old are of no use to anyone.
    await this.db
      .deleteFrom('cli_logins')
      .where('expires_ms', '<', now - 86_400_000)
      .execute();
    this.audit.log('cli_login.started', { attemptId: row.id, host: client.host, ip });
    return { row, connectionId, resumeSecret };
  }

  byId(id: string): Promise<CliLoginRow | undefined> {
    return this.db.selectFrom('cli_logins').selectAll().where('id', '=', id).executeTakeFirst();
  }

  private byConnection(connectionId: string): Promise<CliLoginRow | undefined> {
    return this.db
      .selectFrom('cli_logins')
      .selectAll()
      .where('connection_hash', '=', sha256(connectionId))
      .executeTakeFirst();
  }

  /** The attempt a resume (socket or poll) names, if the secret is right. */
  async resumable(connectionId: string, resumeSecret: string): Promise<CliLoginRow | undefined> {
    const row = await this.byConnection(connectionId);
    return row && safeEqual(row.resume_hash, sha256(resumeSecret)) ? row : undefined;
  }

  /** Ends a pending attempt (the CLI gave up, a fresh attempt replaced by a resume, expiry). */
  async end(id: string): Promise<void> {
    await this.db
      .updateTable('cli_logins')
      .set({ status: 'ended', decided_ms: this.clock.now() })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute();
  }

  private async pendingFor(principal: Principal, connectionId: string): Promise<CliLoginRow> {
    requireScope(principal, 'read');
    const row = await this.byConnection(connectionId);
    if (!row) throw new NotFound('no such login request', 'not_found');
    if (row.expires_ms <= this.clock.now()) throw new NotFound('this login request has expired', 'expired');
    return row;
  }

  /** What the confirmation page shows (a signed-in user). */
  async view(principal: Principal, connectionId: string): Promise<CliLoginView> {
    const row = await this.pendingFor(principal, connectionId);
    return {
      userCode: row.user_code,
      client: JSON.parse(row.client) as CliClient,
      status: row.status,
      expiresMs: row.expires_ms,
      scopes: [...CLI_TOKEN_SCOPES],
      tokenDays: CLI_TOKEN_DAYS,
    };
  }

  /**
   * A signed-in user (a browser login, never a token) confirms or denies. Exactly one decision counts:
   * a second one is 409. Answers the attempt's id, for the live bus.
   */
  async decide(
    principal: Principal,
    authVia: 'cookie' | 'bearer' | null,
    connectionId: string,
    decision: 'confirmed' | 'denied',
    userCode?: string,
  ): Promise<string> {
    const user = requireScope(principal, 'write');
    if (authVia !== 'cookie' || user.via !== undefined)
      throw new Forbidden('a CLI login is confirmed in the browser, by a signed-in user', 'browser_only');
    const row = await this.pendingFor(principal, connectionId);
    if (row.status === 'ended') throw new NotFound('the CLI gave up this login request', 'ended');
    if (row.status !== 'pending')
      throw new Conflict('this login request was decided already', 'already_decided');
    if (decision === 'confirmed' && normalizeUserCode(userCode ?? '') !== row.user_code)
      throw new PollError('wrong_code', 'the code does not match the one the CLI shows');
    const decided = await this.db
      .updateTable('cli_logins')
      .set({ status: decision, user_id: user.userId, decided_ms: this.clock.now() })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (Number(decided.numUpdatedRows) !== 1)
      throw new Conflict('this login request was decided already', 'already_decided');
    this.audit.log(decision === 'confirmed' ? 'cli_login.confirmed' : 'cli_login.denied', {
      userId: user.userId,
      attemptId: row.id,
      host: (JSON.parse(row.client) as CliClient).host,
    });
    return row.id;
  }

  /**
   * Claims a confirmed attempt and makes its token: only one caller ever gets it (the conditional update
   * from `confirmed` to `collected`). Null when it is not (or no longer) confirmed.
   */
  async collect(id: string): Promise<CliLoginToken | null> {
    const claimed = await this.db
      .updateTable('cli_logins')
      .set({ status: 'collected' })
      .where('id', '=', id)
      .where('status', '=', 'confirmed')
      .where('expires_ms', '>', this.clock.now())
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return null;
    const row = await this.byId(id);
    const user = row?.user_id ? await this.users.byId(row.user_id) : undefined;
    if (!row || !user || user.disabled_ms !== null) return null;
    const client = JSON.parse(row.client) as CliClient;
    const { token, info } = await this.tokens.create({
      userId: user.id,
      name: `CLI on ${client.host}`.slice(0, 100),
      scopes: CLI_TOKEN_SCOPES,
      expiresMs: this.clock.now() + CLI_TOKEN_DAYS * 86_400_000,
      cliHost: client.host,
    });
    await this.db.updateTable('cli_logins').set({ token_id: info.id }).where('id', '=', id).execute();
    this.audit.log('cli_login.collected', { userId: user.id, attemptId: id, tokenId: info.id });
    return { token, user: { id: user.id, email: user.email, name: user.name, role: user.role } };
  }

  /**
   * The RFC 8628-style polling fallback, for a CLI that lost its socket: `authorization_pending`,
   * `slow_down` (polled sooner than the interval, which grows by 5 s), `access_denied`, `expired_token`,
   * `invalid_grant` (unknown, wrong secret, or collected already), or the token, once.
   */
  async poll(connectionId: string, resumeSecret: string): Promise<CliLoginToken> {
    const row = await this.resumable(connectionId, resumeSecret);
    if (!row) throw new PollError('invalid_grant', 'no such login request');
    const now = this.clock.now();
    if (row.last_poll_ms !== null && now - row.last_poll_ms < row.poll_interval_s * 1000) {
      await this.db
        .updateTable('cli_logins')
        .set({ last_poll_ms: now, poll_interval_s: row.poll_interval_s + 5 })
        .where('id', '=', row.id)
        .execute();
      throw new PollError('slow_down', `poll at most every ${row.poll_interval_s + 5} s`);
    }
    await this.db.updateTable('cli_logins').set({ last_poll_ms: now }).where('id', '=', row.id).execute();
    if (row.expires_ms <= now && row.status !== 'collected')
      throw new PollError('expired_token', 'the login request has expired: run tacho login again');
    if (row.status === 'pending')
      throw new PollError('authorization_pending', 'waiting for the confirmation in the browser');
    if (row.status === 'denied') throw new PollError('access_denied', 'the login was denied in the browser');
    if (row.status === 'confirmed') {
      const collected = await this.collect(row.id);
      if (collected) return collected;
    }
    throw new PollError('invalid_grant', 'this login request is over');
  }
}
