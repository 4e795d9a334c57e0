import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { safeEqual, sha256 } from '../../lib/crypto.js';
import type { AccessTokens } from './access-token.js';
import { type ApiTokens, TOKEN_PREFIX } from './api-tokens.js';
import type { Principal } from './principal.js';

/** Turns presented credentials into a Principal, or null. Never throws for a bad credential. */
export class Authenticator {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly accessTokens: AccessTokens,
    private readonly apiTokens: ApiTokens,
  ) {}

  /**
   * An API token or a vehicle token (`Authorization: Bearer tacho_…`). Revoked, expired and tokens of a
   * disabled user answer null.
   */
  async authenticateBearer(token: string): Promise<Principal | null> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .leftJoin('vehicles', 'vehicles.id', 'api_tokens.vehicle_id')
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
      ])
      .where('api_tokens.token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!row || row.revoked_ms !== null || row.disabled_ms !== null) return null;
    if (row.expires_ms !== null && row.expires_ms <= this.clock.now()) return null;
    await this.apiTokens.touch(row.id, row.last_used_ms);
    if (row.vehicle_id !== null) {
      if (row.vin === null) return null;
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
   * An MQTT device: username = VIN, password = that vehicle's token. The token is looked up by its hash
   * and the VIN compared in constant time afterwards, so the reply and its timing are the same whether the
   * VIN exists or not.
   */
  async authenticateVehicleDevice(vin: string, password: string): Promise<Principal | null> {
    const principal = await this.authenticateBearer(password);
    const expected = principal?.kind === 'vehicle' ? principal.vin : '\u0000'.repeat(17);
    const match = safeEqual(expected.padEnd(64, '\u0000'), vin.slice(0, 64).padEnd(64, '\u0000'));
    return match && principal?.kind === 'vehicle' ? principal : null;
  }
}
