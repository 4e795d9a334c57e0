import { createHmac } from 'node:crypto';
import * as client from 'openid-client';
import type { ConfigRole, OidcConfig } from '../../config.js';
import type { Db, Role, User } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId, safeEqual, sha256 } from '../../lib/crypto.js';
import type { Logger } from '../../lib/logger.js';
import type { Audit } from './audit.js';
import type { Identities } from './identities.js';
import { normalizeEmail, type Users } from './users.js';

/** How long a sign-in may stay at the provider: the attempt and its cookie end then. */
export const OIDC_ATTEMPT_MS = 10 * 60_000;
export const OIDC_COOKIE = 'tacho_oidc';
export const OIDC_COOKIE_PATH = '/api/v1/auth/oidc';
const roleRank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Why a provider sign-in was refused: the login page says it in words, the audit line names it. */
export class OidcRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface OidcOutcome {
  user: User;
  next: string;
  /** Set when the sign-in linked the identity to a signed-in user (Settings → Linked sign-ins). */
  linked: boolean;
}

/** A path on this server to go to after the sign-in; anything else (another site, `//x`) becomes `/`. */
export function safeNext(next: string | undefined): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  // Only printable ASCII: no control characters, no backslashes a browser might read as a slash.
  if (!/^[\x20-\x7e]*$/.test(next) || next.includes('\\') || next.length > 500) return '/';
  return next;
}

/** The value at a dotted path of the claims (`realm_access.roles`), as a list of strings. */
function claimValues(claims: Record<string, unknown>, path: string): string[] {
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return [];
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** The highest role the claim's values map to (`*` maps anyone), or null when none does. */
export function roleFromClaims(config: OidcConfig, claims: Record<string, unknown>): ConfigRole | null {
  if (!config.roleClaim) return null;
  const values = new Set(claimValues(claims, config.roleClaim));
  let best: ConfigRole | null = null;
  for (const [value, role] of config.roleMap) {
    if ((value === '*' || values.has(value)) && (best === null || roleRank[role] > roleRank[best]))
      best = role;
  }
  return best;
}

export interface OidcDeps {
  config: OidcConfig;
  publicUrl: string;
  db: Db;
  clock: Clock;
  logger: Logger;
  audit: Audit;
  users: Users;
  identities: Identities;
  /** Signs the attempt cookie (the server's HMAC key). */
  key: Uint8Array;
  /** Longest wait between discovery attempts while the provider does not answer (default 30 s). */
  retryMaxMs?: number;
}

/**
 * Sign-in with an OpenID provider: authorization code with PKCE (S256), state and nonce bound to a
 * short-lived signed HttpOnly cookie and to a single-use row, the exact redirect URI under
 * TACHO_PUBLIC_URL, and openid-client's validation of the callback (RFC 9207 `iss`, state, the code
 * exchange, the ID token's signature from the provider's JWKS, issuer, audience, azp, expiry, nonce).
 * Discovery runs in the background and is retried: a provider that is down at start does not stop it.
 */
export class OidcSignIn {
  private configuration: client.Configuration | null = null;
  private timer: NodeJS.Timeout | null = null;
  private discovering: Promise<void> | null = null;
  private failures = 0;
  private lastAttemptMs = 0;
  private closed = false;
  readonly redirectUri: string;
  private readonly issuerUrl: URL;

  constructor(private readonly deps: OidcDeps) {
    this.redirectUri = `${deps.publicUrl}/api/v1/auth/oidc/callback`;
    this.issuerUrl = new URL(deps.config.issuer);
  }

  get name(): string {
    return this.deps.config.name;
  }

  /** The issuer as the provider names itself (what `iss` and identities carry). */
  get issuer(): string {
    return this.configuration?.serverMetadata().issuer ?? this.deps.config.issuer;
  }

  get available(): boolean {
    return this.configuration !== null;
  }

  /** Starts discovery; it is retried with growing pauses until the provider answers. */
  start(): void {
    void this.discover();
  }

  /** Tries discovery now unless one is running or the last one was under a second ago. */
  kick(): void {
    if (!this.configuration && !this.discovering && Date.now() - this.lastAttemptMs > 1000)
      void this.discover();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private discover(): Promise<void> {
    if (this.discovering) return this.discovering;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastAttemptMs = Date.now();
    const { config } = this.deps;
    const insecure = this.issuerUrl.protocol === 'http:';
    this.discovering = client
      .discovery(
        this.issuerUrl,
        config.clientId,
        { redirect_uris: [this.redirectUri], response_types: ['code'] },
        config.clientSecret ? client.ClientSecretBasic(config.clientSecret) : client.None(),
        {
          ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
          timeout: 10,
        },
      )
      .then(
        (configuration) => {
          if (this.closed) return;
          this.configuration = configuration;
          this.failures = 0;
          this.deps.logger.info({ issuer: config.issuer }, 'OpenID provider found');
        },
        (error: unknown) => {
          if (this.closed) return;
          this.failures += 1;
          const waitMs = Math.min(this.deps.retryMaxMs ?? 30_000, 1000 * 2 ** Math.min(this.failures - 1, 5));
          if (this.failures === 1 || this.failures % 10 === 0)
            this.deps.logger.warn(
              { issuer: config.issuer, err: error, retryInMs: waitMs },
              'OpenID provider unreachable: "Sign in with" says it is unavailable until it answers',
            );
          this.timer = setTimeout(() => void this.discover(), waitMs);
          this.timer.unref();
        },
      )
      .finally(() => {
        this.discovering = null;
      });
    return this.discovering;
  }

  private sign(value: string): string {
    return createHmac('sha256', this.deps.key).update(`oidc-attempt:${value}`).digest('base64url');
  }

  /**
   * Starts a sign-in: records the attempt (PKCE verifier, nonce, where to go after, who links) and
   * answers the provider URL and the cookie value that binds the browser to it.
   */
  async begin(next: string, linkUserId: string | null): Promise<{ url: string; cookie: string }> {
    const configuration = this.configuration;
    if (!configuration) {
      this.kick();
      throw new OidcRefusal('provider_unavailable', `${this.name} is unavailable right now: try again soon`);
    }
    const now = this.deps.clock.now();
    const id = newId();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    await this.deps.db
      .insertInto('oidc_attempts')
      .values({
        id,
        state_hash: sha256(state),
        nonce,
        code_verifier: verifier,
        next: safeNext(next),
        link_user_id: linkUserId,
        created_ms: now,
        expires_ms: now + OIDC_ATTEMPT_MS,
        used_ms: null,
      })
      .execute();
    // Attempts that were never finished are cleared as new ones begin.
    await this.deps.db
      .deleteFrom('oidc_attempts')
      .where('expires_ms', '<', now - OIDC_ATTEMPT_MS)
      .execute();
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri,
      response_type: 'code',
      scope: this.deps.config.scopes,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const payload = `${id}.${state}`;
    return { url: url.href, cookie: `${payload}.${this.sign(payload)}` };
  }

  /**
   * Finishes a sign-in from the callback's query string and the attempt cookie: the attempt is used once
   * (a replayed callback is refused), the callback and the ID token are validated, and the identity is
   * mapped to a user by the linking rules (decision 0021).
   */
  async finish(search: string, cookie: string | undefined): Promise<OidcOutcome> {
    const configuration = this.configuration;
    if (!configuration)
      throw new OidcRefusal('provider_unavailable', `${this.name} is unavailable right now`);
    const [id, state, mac] = (cookie ?? '').split('.');
    if (!id || !state || !mac || !safeEqual(mac, this.sign(`${id}.${state}`)))
      throw new OidcRefusal('no_attempt', 'this sign-in was not started in this browser (or took too long)');
    const now = this.deps.clock.now();
    const claimed = await this.deps.db
      .updateTable('oidc_attempts')
      .set({ used_ms: now })
      .where('id', '=', id)
      .where('used_ms', 'is', null)
      .where('expires_ms', '>', now)
      .where('state_hash', '=', sha256(state))
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1)
      throw new OidcRefusal('attempt_used', 'this sign-in was used already or has expired: start again');
    const attempt = await this.deps.db
      .selectFrom('oidc_attempts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

    // The URL the provider redirected to is exactly our redirect URI plus its query string.
    const current = new URL(this.redirectUri);
    current.search = search;
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, current, {
        pkceCodeVerifier: attempt.code_verifier,
        expectedState: state,
        expectedNonce: attempt.nonce,
        idTokenExpected: true,
      });
      claims = (tokens.claims() ?? {}) as Record<string, unknown>;
    } catch (error) {
      const e = error as { code?: string; error?: string; message?: string };
      throw new OidcRefusal(
        'callback_invalid',
        `the provider's answer was refused: ${(e.error ?? e.code ?? 'invalid').slice(0, 60)}: ${(e.message ?? '').slice(0, 200)}`,
      );
    }
    return this.mapIdentity(claims, attempt.link_user_id, attempt.next);
  }

  /** The linking rules: (issuer, subject) first; email only for an invitation, and only when verified. */
  private async mapIdentity(
    claims: Record<string, unknown>,
    linkUserId: string | null,
    next: string,
  ): Promise<OidcOutcome> {
    const { users, identities, config } = this.deps;
    const issuer = String(claims.iss);
    const subject = String(claims.sub);
    const email = typeof claims.email === 'string' ? normalizeEmail(claims.email) : null;
    const verified = email !== null && claims.email_verified === true;
    const found = await identities.find(issuer, subject);
    let user: User | undefined;
    let identityId: string | undefined;
    let linked = false;

    if (linkUserId !== null) {
      // A signed-in user links this identity to their own account (Settings → Linked sign-ins).
      if (found && found.user.id !== linkUserId)
        throw new OidcRefusal('identity_linked', 'this identity is linked to another account');
      user = await users.byId(linkUserId);
      if (!user) throw new OidcRefusal('no_user', 'the account to link to is gone');
      identityId =
        found?.identity.id ?? (await identities.link(user.id, { issuer, subject, email }, user.id)).id;
      linked = !found;
    } else if (found) {
      user = found.user;
      identityId = found.identity.id;
    } else {
      // An invitation: an account an admin made for this email, never signed in, no password, no identity.
      const invited = verified ? await users.byEmail(email) : undefined;
      if (invited && invited.password_hash === null && (await identities.count(invited.id)) === 0) {
        user = invited;
        identityId = (await identities.link(user.id, { issuer, subject, email }, user.id)).id;
        this.deps.audit.log('identity.invitation_accepted', { userId: user.id, issuer });
      } else if (config.autoCreate) {
        if (!verified)
          throw new OidcRefusal(
            'email_unverified',
            `${this.name} gave no verified email: an account needs one; ask an admin to link your sign-in`,
          );
        if (await users.byEmail(email))
          throw new OidcRefusal(
            'account_exists',
            'an account with this email exists: sign in with its password and link this sign-in in Settings',
          );
        const role = roleFromClaims(config, claims) ?? (config.roleClaim ? null : 'viewer');
        if (role === null) throw new OidcRefusal('no_role', `${this.name} gives you no role in Tacho`);
        const name =
          typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 100) : email;
        user = await users.insertWithoutPassword({ email, name, role });
        identityId = (await identities.link(user.id, { issuer, subject, email }, user.id)).id;
        this.deps.audit.log('user.created', { userId: user.id, targetUserId: user.id, role, via: 'oidc' });
      } else {
        throw new OidcRefusal(
          'not_linked',
          `no account is linked to this ${this.name} sign-in: ask an admin to invite you, or sign in and link it in Settings`,
        );
      }
    }
    if (user.disabled_ms !== null) throw new OidcRefusal('disabled', 'this account is disabled');
    if (config.roleClaim) {
      const role = roleFromClaims(config, claims);
      if (role === null) throw new OidcRefusal('no_role', `${this.name} gives you no role in Tacho`);
      if (role !== user.role) user = await users.setRoleFromProvider(user, role);
    }
    await identities.touch(identityId, email);
    return { user, next, linked };
  }
}
