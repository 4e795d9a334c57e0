import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { Forbidden, Unauthorized } from '../../lib/errors.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Audit } from './audit.js';
import type { Authenticator } from './authenticator.js';
import { type DeviceIdTokens, ID_TOKEN_ROUTES, looksLikeJwt } from './id-tokens.js';
import type { Principal } from './principal.js';

export const ACCESS_COOKIE = 'tacho_access';
export const REFRESH_COOKIE = 'tacho_refresh';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request; null when anonymous. Set for every `/api/` request. */
    principal: Principal | null;
    /** How: cookies need the CSRF check, bearer tokens cannot be sent by another site. */
    authVia: 'cookie' | 'bearer' | null;
  }
}

/** OpenAPI: the route takes the login cookie or a bearer token. */
export const authSecurity: Array<Record<string, string[]>> = [{ cookie: [] }, { bearer: [] }];

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Authenticates every `/api/` request: a `Bearer tacho_…` header (API or vehicle token; a bad one is 401
 * at once) or else the access cookie (a stale one leaves the request anonymous, so the client refreshes).
 * Cookie-carrying unsafe requests, and every unsafe request to /api/v1/auth (login CSRF), must come from
 * the server's own origin.
 */
export function installAuthHook(
  http: HttpServer,
  config: Config,
  authenticator: Authenticator,
  audit: Audit,
  idTokens: DeviceIdTokens | null = null,
): void {
  const ownOrigins = new Set([new URL(config.publicUrl).origin, ...config.allowedOrigins]);
  http.decorateRequest('principal', null);
  http.decorateRequest('authVia', null);

  http.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/api/')) return;
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7).trim() : null;
    if (bearer === null && unsafeMethods.has(request.method) && needsOriginCheck(request)) {
      const refusal = originProblem(request, ownOrigins);
      if (refusal) {
        audit.log('csrf.refused', {
          method: request.method,
          route: request.url.split('?')[0],
          reason: refusal,
        });
        throw new Forbidden(`cross-site request refused: ${refusal}`, 'csrf');
      }
    }
    if (bearer !== null && idTokens?.configured && looksLikeJwt(bearer)) {
      // A phone's ID token (issue 20.3): verified against its issuer's keys, then only on its routes.
      const route = `${request.method} ${request.routeOptions.url ?? ''}`;
      const result = await idTokens.verify(bearer);
      if (!result.ok) {
        audit.log('id_token.refused', {
          reason: result.reason,
          issuer: result.issuer,
          kid: result.kid,
          route,
          ip: request.ip,
        });
        throw new Unauthorized('the ID token was refused', 'invalid_token');
      }
      if (!ID_TOKEN_ROUTES.has(route)) {
        audit.log('id_token.refused', {
          reason: 'route_not_allowed',
          issuer: result.issuer,
          route,
          ip: request.ip,
        });
        throw new Forbidden(
          'an ID token may only send telemetry, manage recordings and add its own vehicle',
          'id_token_not_allowed',
        );
      }
      request.principal = result.principal;
      request.authVia = 'bearer';
      return;
    }
    if (bearer !== null) {
      const principal = await authenticator.authenticateBearer(bearer);
      if (!principal) throw new Unauthorized('the token is invalid, expired or revoked', 'invalid_token');
      request.principal = principal;
      request.authVia = 'bearer';
      return;
    }
    const access = request.cookies[ACCESS_COOKIE];
    if (access) {
      const principal = await authenticator.authenticateAccessToken(access);
      if (principal) {
        request.principal = principal;
        request.authVia = 'cookie';
      }
    }
  });
  // Audit trail of refusals: who was turned away from what (never the credential itself).
  http.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 401 && reply.statusCode !== 403) return;
    if (!request.url.startsWith('/api/')) return;
    const p = request.principal;
    audit.log('request.denied', {
      method: request.method,
      route: request.routeOptions.url ?? request.url.split('?')[0],
      status: reply.statusCode,
      ip: request.ip,
      ...(p?.kind === 'user' ? { userId: p.userId, tokenId: p.tokenId } : {}),
      ...(p?.kind === 'vehicle' ? { vehicleId: p.vehicleId, tokenId: p.tokenId } : {}),
    });
  });
}

function needsOriginCheck(request: FastifyRequest): boolean {
  if (request.url.startsWith('/api/v1/auth/')) return true;
  const cookies = request.cookies;
  return cookies[ACCESS_COOKIE] !== undefined || cookies[REFRESH_COOKIE] !== undefined;
}

/** Why the request looks cross-site, or null when it comes from the server's own pages (or no browser). */
function originProblem(request: FastifyRequest, ownOrigins: ReadonlySet<string>): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site') return 'Sec-Fetch-Site is cross-site';
  const origin = request.headers.origin;
  if (origin === undefined) return null;
  if (ownOrigins.has(origin)) return null;
  // The server's own address as this request reached it: a browser never lets a page set Host.
  if (origin === `${request.protocol}://${request.host}`) return null;
  return `Origin ${origin} is not allowed`;
}

/** The request's principal, or 401. */
export function requirePrincipal(request: FastifyRequest): Principal {
  if (!request.principal) throw new Unauthorized();
  return request.principal;
}
