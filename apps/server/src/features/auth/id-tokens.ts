import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import type { Identities } from './identities.js';
import type { Principal } from './principal.js';

/** Asymmetric algorithms only: `none` and HMAC (which a public key could be abused to "sign") never pass. */
export const ID_TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];
/** Clock difference tolerated between the issuer and this server (the limit: 60 s). */
export const ID_TOKEN_TOLERANCE_S = 60;
/** An unknown `kid` fetches the issuer's keys again at most this often. */
export const JWKS_REFETCH_MS = 30_000;
/** Header parameters that point at (or carry) keys of the sender's choosing: such a token is refused. */
const FOREIGN_KEY_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'];

/**
 * The routes a phone's ID token may be used on: ingest, recordings (start, stop, list, read, delete),
 * its own vehicles, and who it is. Everything else refuses it (403 `id_token_not_allowed`).
 */
export const ID_TOKEN_ROUTES: ReadonlySet<string> = new Set([
  'GET /api/v1/auth/me',
  'GET /api/v1/vehicles',
  'POST /api/v1/me/vehicles',
  'POST /api/v1/vehicles/:vin/telemetry',
  'POST /api/v1/ingest/vinfast/:vin',
  'POST /api/v1/ingest/owntracks',
  'GET /api/v1/ingest/osmand',
  'POST /api/v1/ingest/osmand',
  'POST /api/v1/ingest/overland',
  'GET /api/v1/vehicles/:id/sessions',
  'POST /api/v1/vehicles/:id/sessions',
  'GET /api/v1/sessions',
  'GET /api/v1/sessions/:id',
  'GET /api/v1/sessions/:id/track',
  'GET /api/v1/sessions/:id/samples',
  'POST /api/v1/sessions/:id/stop',
  'DELETE /api/v1/sessions/:id',
]);

/** Why an ID token was refused: the audit line's reason (the answer is always the same 401). */
export type IdTokenRefusal =
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'foreign_key_header'
  | 'not_an_id_token'
  | 'unknown_issuer'
  | 'issuer_unreachable'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'missing_claim'
  | 'not_linked'
  | 'user_disabled';

export type IdTokenResult =
  | { ok: true; principal: Principal; issuer: string; subject: string }
  | { ok: false; reason: IdTokenRefusal; issuer?: string; kid?: string };

interface IssuerEntry {
  readonly issuer: string;
  readonly audience: string;
  jwksUri: string | null;
  discoveredMs: number;
  keys: { set: JWTVerifyGetKey; kids: ReadonlySet<string>; fetchedMs: number } | null;
  /** A fetch of the keys under way: parallel requests share it. */
  fetching: Promise<void> | null;
}

/** Keys are read again after this long even when every kid is known (rotations without new kids). */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/** Whether a bearer credential looks like a JWT (three base64url parts) rather than a `tacho_` token. */
export function looksLikeJwt(token: string): boolean {
  return token.length < 16_384 && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/**
 * Phones that post with the ID token their app got from an authorization server (TACHO_DEVICE_ISSUERS).
 * Verified with jose against the issuer's JWKS, found through its discovery document: an algorithm
 * allow-list, the issuer and audience configured, `exp` and `iat` required, 60 s of clock tolerance,
 * keys cached, and an unknown `kid` refetching them at most once per 30 s. The token's (iss, sub) must be
 * linked to a Tacho user, who must not be disabled; the principal acts with that user's rights.
 */
export class DeviceIdTokens {
  private readonly issuers = new Map<string, IssuerEntry>();

  constructor(
    issuers: Config['deviceIssuers'],
    private readonly deps: { clock: Clock; identities: Identities; fetch?: typeof fetch },
  ) {
    for (const { issuer, audience } of issuers)
      this.issuers.set(issuer, {
        issuer,
        audience,
        jwksUri: null,
        discoveredMs: 0,
        keys: null,
        fetching: null,
      });
  }

  get configured(): boolean {
    return this.issuers.size > 0;
  }

  private async getJson(url: string): Promise<unknown> {
    const res = await (this.deps.fetch ?? fetch)(url, {
      signal: AbortSignal.timeout(5000),
      redirect: 'error',
    }).catch(() => null);
    return res?.ok ? res.json().catch(() => null) : null;
  }

  /** The issuer's JWKS address, from its discovery document (read once; tried again at most every 30 s). */
  private async jwksUriOf(entry: IssuerEntry): Promise<string | null> {
    if (entry.jwksUri) return entry.jwksUri;
    const now = this.deps.clock.now();
    if (entry.discoveredMs !== 0 && now - entry.discoveredMs < JWKS_REFETCH_MS) return null;
    entry.discoveredMs = now;
    const metadata = (await this.getJson(
      `${entry.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
    )) as {
      issuer?: unknown;
      jwks_uri?: unknown;
    } | null;
    if (metadata?.issuer !== entry.issuer || typeof metadata.jwks_uri !== 'string') return null;
    entry.jwksUri = metadata.jwks_uri;
    return entry.jwksUri;
  }

  /**
   * The issuer's keys for a token with this kid. Fetched once and kept; a kid they lack (a rotation, or
   * someone probing) fetches them again only when the last fetch is 30 s old, whatever kids are asked
   * for, so a flood of made-up kids costs the issuer one request per 30 s.
   */
  private async keysFor(entry: IssuerEntry, kid: string | undefined): Promise<JWTVerifyGetKey | null> {
    const now = this.deps.clock.now();
    const keys = entry.keys;
    const stale = keys === null || now - keys.fetchedMs >= JWKS_MAX_AGE_MS;
    const unknownKid = keys !== null && kid !== undefined && !keys.kids.has(kid);
    if (stale || (unknownKid && now - keys.fetchedMs >= JWKS_REFETCH_MS)) {
      entry.fetching ??= (async () => {
        const uri = await this.jwksUriOf(entry);
        const jwks = uri ? ((await this.getJson(uri)) as JSONWebKeySet | null) : null;
        // A failed fetch counts too: the next one waits its 30 s as well.
        if (!jwks || !Array.isArray(jwks.keys)) {
          if (entry.keys) entry.keys = { ...entry.keys, fetchedMs: this.deps.clock.now() };
          return;
        }
        const kids = new Set(jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
        entry.keys = { set: createLocalJWKSet(jwks), kids, fetchedMs: this.deps.clock.now() };
      })().finally(() => {
        entry.fetching = null;
      });
      await entry.fetching;
    }
    return entry.keys?.set ?? null;
  }

  async verify(token: string): Promise<IdTokenResult> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const kid = typeof header.kid === 'string' ? header.kid.slice(0, 100) : undefined;
    const claimedIssuer = typeof unverified.iss === 'string' ? unverified.iss.slice(0, 300) : undefined;
    const refuse = (reason: IdTokenRefusal): IdTokenResult => ({
      ok: false,
      reason,
      ...(claimedIssuer ? { issuer: claimedIssuer } : {}),
      ...(kid ? { kid } : {}),
    });
    if (!header.alg || !ID_TOKEN_ALGORITHMS.includes(header.alg)) return refuse('algorithm_not_allowed');
    if (FOREIGN_KEY_HEADERS.some((name) => name in header)) return refuse('foreign_key_header');
    // An access token is not an ID token: RFC 9068's typ, Keycloak's typ claim, scopes, Cognito's token_use.
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : 'jwt';
    if (typ !== 'jwt') return refuse('not_an_id_token');
    if (
      unverified.scope !== undefined ||
      unverified.scp !== undefined ||
      unverified.token_use === 'access' ||
      (typeof unverified.typ === 'string' && unverified.typ !== 'ID')
    )
      return refuse('not_an_id_token');
    const entry = claimedIssuer ? this.issuers.get(claimedIssuer) : undefined;
    if (!entry) return refuse('unknown_issuer');
    const keys = await this.keysFor(entry, kid);
    if (!keys) return refuse('issuer_unreachable');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: ID_TOKEN_ALGORITHMS,
        issuer: entry.issuer,
        audience: entry.audience,
        clockTolerance: ID_TOKEN_TOLERANCE_S,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
        currentDate: new Date(this.deps.clock.now()),
      }));
    } catch (error) {
      return refuse(reasonOf(error));
    }
    if ((payload.iat ?? 0) * 1000 > this.deps.clock.now() + ID_TOKEN_TOLERANCE_S * 1000)
      return refuse('issued_in_future');
    // With several audiences, the one it was issued to (azp) must be ours (OpenID Connect Core 3.1.3.7).
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== entry.audience)
      return refuse('wrong_audience');
    const subject = String(payload.sub);
    const linked = await this.deps.identities.find(entry.issuer, subject);
    if (!linked) return refuse('not_linked');
    if (linked.user.disabled_ms !== null) return refuse('user_disabled');
    return {
      ok: true,
      issuer: entry.issuer,
      subject,
      principal: {
        kind: 'user',
        userId: linked.user.id,
        role: linked.user.role,
        scopes: ['read', 'write'],
        via: 'id_token',
      },
    };
  }
}

function reasonOf(error: unknown): IdTokenRefusal {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'unknown_key';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'wrong_audience';
    if (error.claim === 'iss') return 'wrong_issuer';
    if (error.claim === 'nbf') return 'not_yet_valid';
    if (error.claim === 'iat') return 'issued_in_future';
    return 'missing_claim';
  }
  if (error instanceof joseErrors.JWKSTimeout) return 'issuer_unreachable';
  return 'bad_signature';
}
