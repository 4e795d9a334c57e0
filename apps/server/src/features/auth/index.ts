import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Vault } from '../vault/index.js';
import { AccessTokens, loadSigningKey } from './access-token.js';
import { ApiTokens } from './api-tokens.js';
import { Audit } from './audit.js';
import { registerAuthRoutes } from './auth.routes.js';
import { Authenticator } from './authenticator.js';
import { installAuthHook } from './http-auth.js';
import { DeviceIdTokens } from './id-tokens.js';
import { Identities } from './identities.js';
import { Logins } from './logins.js';
import { OidcSignIn } from './oidc.js';
import { registerOidcRoutes } from './oidc.routes.js';
import { PasswordCheck } from './password-check.js';
import { PasswordHasher } from './password-hasher.js';
import { dummyHash } from './passwords.js';
import type { Principal } from './principal.js';
import { FirstStart } from './setup.js';
import { LoginThrottle } from './throttle.js';
import { registerTokenRoutes } from './tokens.routes.js';
import { Users } from './users.js';
import { registerUserRoutes } from './users.routes.js';

export { ApiTokens } from './api-tokens.js';
export { Audit, type AuditEvent } from './audit.js';
export { ACCESS_COOKIE, REFRESH_COOKIE, requirePrincipal } from './http-auth.js';
export { Identities } from './identities.js';
export { Logins } from './logins.js';
export { OidcSignIn } from './oidc.js';
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
export { toUserView, Users } from './users.js';

/** The authentication feature as the rest of the app sees it. */
export interface Auth {
  /** API and vehicle tokens (`Authorization: Bearer tacho_…`); null when invalid, expired or revoked. */
  authenticateBearer(token: string): Promise<Principal | null>;
  /** A browser login's access token (the `tacho_access` cookie); the live socket uses it too. */
  authenticateAccessToken(jwt: string): Promise<Principal | null>;
  /** MQTT: username = VIN, password = that vehicle's token. */
  authenticateVehicleDevice(vin: string, password: string): Promise<Principal | null>;
  /**
   * The principal as it is now, by its login or token id (no secret): current role, or null when that
   * login or token no longer counts. Open sockets and MQTT connections are re-checked with it.
   */
  recheck(principal: Principal): Promise<Principal | null>;
  /** Of these device tokens, the ids that still authenticate (MQTT connections are re-checked in bulk). */
  validDeviceTokens(tokenIds: readonly string[]): Promise<Set<string>>;
  readonly tokens: ApiTokens;
  readonly accessTokens: AccessTokens;
  readonly audit: Audit;
  readonly logins: Logins;
  readonly users: Users;
  readonly identities: Identities;
  /** Sign-in with the OpenID provider; null when TACHO_OIDC_ISSUER is not set. */
  readonly oidc: OidcSignIn | null;
  /** The one-time first-admin link to print at start, when no user exists and none was configured. */
  readonly setupUrl: string | null;
  /** Every route under /api/v1 (method, URL pattern), as registered: the route-table test walks it. */
  readonly routeTable: ReadonlyArray<{ readonly method: string; readonly url: string }>;
}

export interface AuthDeps {
  http: HttpServer;
  config: Config;
  db: Db;
  /** Seals the access tokens' signing key at rest. */
  vault: Vault;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  /** Longest pause between OpenID discovery attempts while the provider is down (tests use less). */
  oidcRetryMaxMs?: number;
}

/** Builds authentication: the request hook (every /api/ request gets `request.principal`) and its routes. */
export async function createAuth(deps: AuthDeps): Promise<Auth> {
  const { http, config, db, clock, events, logger } = deps;
  const audit = new Audit(logger);
  const key = await loadSigningKey(db, clock, deps.vault);
  const accessTokens = new AccessTokens(key, clock);
  const tokens = new ApiTokens(db, clock, audit, events);
  const authenticator = new Authenticator(db, clock, accessTokens, tokens);
  const logins = new Logins(db, clock, events, audit, accessTokens, key);
  const hasher = new PasswordHasher(config.passwordHashing);
  const users = new Users(db, clock, events, audit, logins, hasher);
  // Computed now so the first unknown-email login costs no more than any other.
  void dummyHash();
  const throttle = new LoginThrottle(db, clock, logger);
  // Fastify's onClose runs before the app closes the database: the last counts are written.
  http.addHook('onClose', () => throttle.close());
  const passwords = new PasswordCheck(users, throttle, hasher, audit);
  const firstStart = new FirstStart(db, clock, users, audit);
  const identities = new Identities(db, clock, audit);
  const oidc = config.oidc
    ? new OidcSignIn({
        config: config.oidc,
        publicUrl: config.publicUrl,
        db,
        clock,
        logger: logger.child({ part: 'oidc' }),
        audit,
        users,
        identities,
        key,
        ...(deps.oidcRetryMaxMs !== undefined ? { retryMaxMs: deps.oidcRetryMaxMs } : {}),
      })
    : null;
  if (oidc) {
    oidc.start();
    http.addHook('onClose', async () => oidc.close());
  }
  const setupUrl = await firstStart.prepare(config, logger);

  const idTokens = new DeviceIdTokens(config.deviceIssuers, { clock, identities });
  installAuthHook(http, config, authenticator, audit, idTokens);
  // Every API route registered from here on, for the route-table test (routes × roles).
  const routeTable: Array<{ method: string; url: string }> = [];
  http.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/')) return;
    for (const method of [route.method].flat())
      if (method !== 'HEAD') routeTable.push({ method, url: route.url });
  });
  registerAuthRoutes(http, { config, clock, users, logins, passwords, hasher, firstStart, audit });
  registerUserRoutes(http, users);
  registerTokenRoutes(http, tokens, clock);
  registerOidcRoutes(http, { oidc, identities, logins, audit, clock });
  return {
    authenticateBearer: (token) => authenticator.authenticateBearer(token),
    authenticateAccessToken: (jwt) => authenticator.authenticateAccessToken(jwt),
    authenticateVehicleDevice: (vin, password) => authenticator.authenticateVehicleDevice(vin, password),
    recheck: (principal) => authenticator.recheck(principal),
    validDeviceTokens: (tokenIds) => authenticator.validDeviceTokens(tokenIds),
    tokens,
    accessTokens,
    audit,
    logins,
    users,
    identities,
    oidc,
    setupUrl,
    routeTable,
  };
}
