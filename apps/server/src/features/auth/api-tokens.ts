import type { TokenView } from '@tacho/protocol';
import type { ApiToken, Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId, randomToken, sha256 } from '../../lib/crypto.js';
import { NotFound } from '../../lib/errors.js';
import type { EventBus } from '../../lib/events.js';
import type { Audit } from './audit.js';

/** Every token starts with this, so secret scanners and people recognise it. */
export const TOKEN_PREFIX = 'tacho_';
/** How many characters of a token are kept in clear, to tell tokens apart in lists. */
const SHOWN_CHARS = TOKEN_PREFIX.length + 6;
/** last_used_ms is written at most this often per token, so a busy device does not write on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** A new token: the prefix and 256 bits of randomness. */
export function newTokenSecret(): string {
  return `${TOKEN_PREFIX}${randomToken(32)}`;
}

export function toTokenView(row: ApiToken): TokenView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as string[],
    vehicleId: row.vehicle_id,
    vehicleIds: row.vehicle_ids === null ? null : (JSON.parse(row.vehicle_ids) as string[]),
    createdMs: row.created_ms,
    expiresMs: row.expires_ms,
    lastUsedMs: row.last_used_ms,
    cliHost: row.cli_host ?? null,
  };
}

export interface NewApiToken {
  userId: string;
  name: string;
  scopes: readonly string[];
  /** Set for a vehicle token. */
  vehicleId?: string;
  vehicleIds?: readonly string[];
  expiresMs?: number;
  /** Set for the token a `tacho login` made: the CLI's host name. */
  cliHost?: string;
}

/** API and vehicle tokens: only their SHA-256 is stored; the secret is shown once, at creation. */
export class ApiTokens {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly events: EventBus,
  ) {}

  async create(input: NewApiToken): Promise<{ token: string; info: TokenView }> {
    const token = newTokenSecret();
    const row: ApiToken = {
      id: newId(),
      user_id: input.userId,
      vehicle_id: input.vehicleId ?? null,
      name: input.name,
      token_hash: sha256(token),
      prefix: token.slice(0, SHOWN_CHARS),
      scopes: JSON.stringify(input.scopes),
      vehicle_ids: input.vehicleIds ? JSON.stringify(input.vehicleIds) : null,
      created_ms: this.clock.now(),
      expires_ms: input.expiresMs ?? null,
      last_used_ms: null,
      revoked_ms: null,
      cli_host: input.cliHost ?? null,
    };
    await this.db.insertInto('api_tokens').values(row).execute();
    this.audit.log(input.vehicleId ? 'vehicle_token.created' : 'token.created', {
      userId: input.userId,
      tokenId: row.id,
      vehicleId: input.vehicleId,
      scopes: input.scopes,
    });
    return { token, info: toTokenView(row) };
  }

  /** The user's live tokens (vehicle tokens included), newest first. */
  async listForUser(userId: string): Promise<TokenView[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_ms', 'is', null)
      .orderBy('created_ms', 'desc')
      .orderBy('id')
      .execute();
    const now = this.clock.now();
    return rows.filter((r) => r.expires_ms === null || r.expires_ms > now).map(toTokenView);
  }

  /** A vehicle's live device tokens, newest first. */
  async listForVehicle(vehicleId: string): Promise<TokenView[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('vehicle_id', '=', vehicleId)
      .where('revoked_ms', 'is', null)
      .orderBy('created_ms', 'desc')
      .orderBy('id')
      .execute();
    return rows.map(toTokenView);
  }

  /** Revokes one of the user's tokens (an admin may revoke anyone's); 404 when there is no such token. */
  async revoke(actor: { userId: string; admin: boolean }, tokenId: string): Promise<void> {
    let query = this.db
      .updateTable('api_tokens')
      .set({ revoked_ms: this.clock.now() })
      .where('id', '=', tokenId)
      .where('revoked_ms', 'is', null);
    if (!actor.admin) query = query.where('user_id', '=', actor.userId);
    const result = await query.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new NotFound('no such token');
    this.audit.log('token.revoked', { userId: actor.userId, tokenId });
    // Whatever the token opened (a live socket, an MQTT connection, on any instance) ends too.
    this.events.emit('token.revoked', { tokenId });
  }

  /** Revokes a vehicle's device token; 404 when it is not one of that vehicle's tokens. */
  async revokeVehicleToken(actorId: string, vehicleId: string, tokenId: string): Promise<void> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_ms: this.clock.now() })
      .where('id', '=', tokenId)
      .where('vehicle_id', '=', vehicleId)
      .where('revoked_ms', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new NotFound('no such token');
    this.audit.log('token.revoked', { userId: actorId, tokenId, vehicleId });
    this.events.emit('token.revoked', { tokenId });
  }

  /** Revokes the vehicle tokens a user made for a vehicle (their access to it ended). */
  async revokeUserVehicleTokens(userId: string, vehicleId: string): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ revoked_ms: this.clock.now() })
      .where('user_id', '=', userId)
      .where('vehicle_id', '=', vehicleId)
      .where('revoked_ms', 'is', null)
      .execute();
  }

  /** Records use, at most once a minute per token. */
  async touch(tokenId: string, lastUsedMs: number | null): Promise<void> {
    const now = this.clock.now();
    if (lastUsedMs !== null && now - lastUsedMs < LAST_USED_RESOLUTION_MS) return;
    await this.db.updateTable('api_tokens').set({ last_used_ms: now }).where('id', '=', tokenId).execute();
  }
}
