import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { safeEqual, sha256 } from '../../lib/crypto.js';
// The access rule itself (not the vehicles feature's index, which needs auth first): a device token
// is checked against what its creator may do.
import { decide } from '../vehicles/access.js';
import type { AccessTokens } from './access-token.js';
import { type ApiTokens, TOKEN_PREFIX } from './api-tokens.js';
import type { Principal } from './principal.js';

/** Token ids per query when many connections are re-checked at once (bound parameters stay few). */
const RECHECK_CHUNK = 500;

type TokenRow = Awaited<ReturnType<ReturnType<Authenticator['tokenRows']>['executeTakeFirstOrThrow']>>;

/** Turns presented credentials into a Principal, or null. Never throws for a bad credential. */
export class Authenticator {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly accessTokens: AccessTokens,
    private readonly apiTokens: ApiTokens,
  ) {}

  /**
   * A token's row with what its principal depends on: its owner's role and state, and for a device
   * token its vehicle and the creator's grant on it (a device token follows its creator's current right).
   */
  private tokenRows() {
    return this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .leftJoin('vehicles', 'vehicles.id', 'api_tokens.vehicle_id')
      .leftJoin('vehicle_access', (join) =>
        join
          .onRef('vehicle_access.vehicle_id', '=', 'api_tokens.vehicle_id')
          .onRef('vehicle_access.user_id', '=', 'api_tokens.user_id'),
      )
      .select([
        'api_tokens.id',
        'api_tokens.user_id',
        'api_tokens.vehicle_id',
        'api_tokens.scopes',
        'api_tokens.vehicle_ids',
        'api_tokens.expires_ms',
        'api_tokens.revoked_ms',
        'api_tokens.last_used_ms',
        'users.role',
        'users.disabled_ms',
        'vehicles.vin',
        'vehicles.owner_id',
        'vehicle_access.role as grant',
      ]);
  }

  /** The principal a token row stands for, or null when it no longer counts. */
  private principalOfToken(row: TokenRow): Principal | null {
    if (row.revoked_ms !== null || row.disabled_ms !== null) return null;
    if (row.expires_ms !== null && row.expires_ms <= this.clock.now()) return null;
    if (row.vehicle_id !== null) {
      // The vehicle is gone (the join found none); a vehicle without a VIN is still a vehicle.
      if (row.owner_id === null) return null;
      // A device token may publish while the person who made it may still publish for the vehicle: a
      // sharee downgraded to viewer (or an owner made a viewer) takes their devices' rights along
      // (decision 0013).
      const creator = { kind: 'user', userId: row.user_id, role: row.role } as const;
      const vehicle = { id: row.vehicle_id, owner_id: row.owner_id };
      if (!decide(creator, 'publish', vehicle, row.grant ?? null)) return null;
      return {
        kind: 'vehicle',
        vehicleId: row.vehicle_id,
        vin: row.vin,
        tokenId: row.id,
        userId: row.user_id,
      };
    }
    return {
      kind: 'user',
      userId: row.user_id,
      role: row.role,
      tokenId: row.id,
      scopes: JSON.parse(row.scopes) as string[],
      ...(row.vehicle_ids !== null ? { vehicleIds: JSON.parse(row.vehicle_ids) as string[] } : {}),
    };
  }

  /**
   * An API token or a vehicle token (`Authorization: Bearer tacho_…`). Revoked, expired and tokens of a
   * disabled user answer null; so does a device token whose creator may no longer publish for its vehicle.
   */
  async authenticateBearer(token: string): Promise<Principal | null> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
    const row = await this.tokenRows().where('api_tokens.token_hash', '=', sha256(token)).executeTakeFirst();
    const principal = row ? this.principalOfToken(row) : null;
    if (principal && row) await this.apiTokens.touch(row.id, row.last_used_ms);
    return principal;
  }

  /**
   * The principal as it is now, found by what authenticated it (its login or token id), without the
   * secret: its current role, or null when that login or token no longer counts. Open live sockets and
   * MQTT connections are re-checked with it after a revocation, and now and then in case one was missed.
   */
  async recheck(principal: Principal): Promise<Principal | null> {
    if (principal.tokenId !== undefined) {
      const row = await this.tokenRows().where('api_tokens.id', '=', principal.tokenId).executeTakeFirst();
      const fresh = row ? this.principalOfToken(row) : null;
      return fresh?.kind === principal.kind && fresh.userId === principal.userId ? fresh : null;
    }
    if (principal.kind !== 'user' || principal.loginId === undefined) return null;
    const row = await this.db
      .selectFrom('logins')
      .innerJoin('users', 'users.id', 'logins.user_id')
      .select(['users.role', 'users.disabled_ms', 'logins.revoked_ms', 'logins.expires_ms'])
      .where('logins.id', '=', principal.loginId)
      .where('users.id', '=', principal.userId)
      .executeTakeFirst();
    if (!row || row.revoked_ms !== null || row.disabled_ms !== null) return null;
    if (row.expires_ms <= this.clock.now()) return null;
    return { kind: 'user', userId: principal.userId, role: row.role, loginId: principal.loginId };
  }

  /**
   * Of these device tokens, the ids that still authenticate (few queries for many connections). An API
   * token with the `telemetry` scope counts: it is the MQTT password of Tesla's fleet-telemetry server.
   */
  async validDeviceTokens(tokenIds: readonly string[]): Promise<Set<string>> {
    const valid = new Set<string>();
    for (let i = 0; i < tokenIds.length; i += RECHECK_CHUNK) {
      const rows = await this.tokenRows()
        .where('api_tokens.id', 'in', tokenIds.slice(i, i + RECHECK_CHUNK))
        .execute();
      for (const row of rows) {
        const principal = this.principalOfToken(row);
        if (principal?.kind === 'vehicle' || principal?.scopes?.includes('telemetry')) valid.add(row.id);
      }
    }
    return valid;
  }

  /**
   * The access token of a browser login (the `tacho_access` cookie; the live socket uses it too). Refused
   * when its login has ended, the user is disabled, or it was issued before the user's
   * `tokens_valid_after_ms` (password change, "log out everywhere").
   */
  async authenticateAccessToken(jwt: string): Promise<Principal | null> {
    const claims = await this.accessTokens.verify(jwt);
    if (!claims) return null;
    const row = await this.db
      .selectFrom('logins')
      .innerJoin('users', 'users.id', 'logins.user_id')
      .select(['users.role', 'users.disabled_ms', 'users.tokens_valid_after_ms', 'logins.revoked_ms'])
      .where('logins.id', '=', claims.loginId)
      .where('users.id', '=', claims.userId)
      .executeTakeFirst();
    if (!row || row.revoked_ms !== null || row.disabled_ms !== null) return null;
    if (claims.issuedMs < row.tokens_valid_after_ms) return null;
    return { kind: 'user', userId: claims.userId, role: row.role, loginId: claims.loginId };
  }

  /**
   * An MQTT device: username = the vehicle's VIN or id, password = that vehicle's token. The token is
   * looked up by its hash and the username compared in constant time afterwards (with both the VIN and
   * the id), so the reply and its timing are the same whether the VIN exists or not.
   */
  async authenticateVehicleDevice(username: string, password: string): Promise<Principal | null> {
    const principal = await this.authenticateBearer(password);
    const given = username.slice(0, 64).padEnd(64, '\u0000');
    const pad = (value: string | null | undefined) => (value ?? '').padEnd(64, '\u0000');
    const vehicle = principal?.kind === 'vehicle' ? principal : null;
    const byId = safeEqual(pad(vehicle?.vehicleId), given);
    const byVin = safeEqual(pad(vehicle?.vin), given);
    return vehicle && username !== '' && (byId || byVin) ? vehicle : null;
  }
}
