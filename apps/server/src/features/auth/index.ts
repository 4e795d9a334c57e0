import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import { AccessTokens, loadSigningKey } from './access-token.js';
import { ApiTokens } from './api-tokens.js';
import { Audit } from './audit.js';
import { Authenticator } from './authenticator.js';
import { installAuthHook } from './http-auth.js';
import type { Principal } from './principal.js';
import { registerTokenRoutes } from './tokens.routes.js';

export { ApiTokens } from './api-tokens.js';
export { Audit, type AuditEvent } from './audit.js';
export { ACCESS_COOKIE, REFRESH_COOKIE, requirePrincipal } from './http-auth.js';
export { hashPassword, verifyPassword } from './passwords.js';
export {
  hasScope,
  isAdmin,
  requireAdmin,
  requireScope,
  requireUser,
  type UserPrincipal,
} from './permissions.js';
export type { Principal } from './principal.js';

/** The authentication feature as the rest of the app sees it. */
export interface Auth {
  /** API and vehicle tokens (`Authorization: Bearer tacho_…`); null when invalid, expired or revoked. */
  authenticateBearer(token: string): Promise<Principal | null>;
  /** A browser login's access token (the `tacho_access` cookie); the live socket uses it too. */
  authenticateAccessToken(jwt: string): Promise<Principal | null>;
  /** MQTT: username = VIN, password = that vehicle's token. */
  authenticateVehicleDevice(vin: string, password: string): Promise<Principal | null>;
  readonly tokens: ApiTokens;
  readonly accessTokens: AccessTokens;
  readonly audit: Audit;
}

export interface AuthDeps {
  http: HttpServer;
  config: Config;
  db: Db;
  clock: Clock;
  events: EventBus;
  logger: Logger;
}

/** Builds authentication: the request hook (every /api/ request gets `request.principal`) and its routes. */
export async function createAuth(deps: AuthDeps): Promise<Auth> {
  const { http, config, db, clock, logger } = deps;
  const audit = new Audit(logger);
  const accessTokens = new AccessTokens(await loadSigningKey(db, clock), clock);
  const tokens = new ApiTokens(db, clock, audit);
  const authenticator = new Authenticator(db, clock, accessTokens, tokens);
  installAuthHook(http, config, authenticator, audit);
  registerTokenRoutes(http, tokens, clock);
  return {
    authenticateBearer: (token) => authenticator.authenticateBearer(token),
    authenticateAccessToken: (jwt) => authenticator.authenticateAccessToken(jwt),
    authenticateVehicleDevice: (vin, password) => authenticator.authenticateVehicleDevice(vin, password),
    tokens,
    accessTokens,
    audit,
  };
}
