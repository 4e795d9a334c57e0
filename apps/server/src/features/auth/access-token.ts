import { jwtVerify, SignJWT } from 'jose';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken } from '../../lib/crypto.js';
import { SIGNING_KEY_SETTING, type Vault } from '../vault/index.js';

export const ACCESS_TOKEN_TTL_MS = 15 * 60_000;
const ISSUER = 'tacho';

export interface AccessClaims {
  userId: string;
  loginId: string;
  /** When it was issued, in ms: compared with users.tokens_valid_after_ms. */
  issuedMs: number;
}

/**
 * The HMAC key that signs access tokens. It lives in `settings` so every instance behind a load balancer
 * shares it: the first instance to start inserts one, the others (and later starts) read that one. It is
 * sealed by the vault (decision 0026): a copy of the database alone cannot forge a login.
 */
export async function loadSigningKey(db: Db, clock: Clock, vault: Vault): Promise<Uint8Array> {
  const place = { table: 'settings', column: 'value', rowId: SIGNING_KEY_SETTING };
  const fresh = await vault.seal(randomToken(32), place);
  await db
    .insertInto('settings')
    .values({ key: SIGNING_KEY_SETTING, value: fresh, updated_ms: clock.now() })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', SIGNING_KEY_SETTING)
    .executeTakeFirstOrThrow();
  return new Uint8Array(Buffer.from(await vault.open(row.value, place), 'base64url'));
}

export class AccessTokens {
  constructor(
    private readonly key: Uint8Array,
    private readonly clock: Clock,
  ) {}

  /** Signs a 15-minute access token; answers the token and when it expires. */
  async sign(userId: string, loginId: string): Promise<{ token: string; expiresMs: number }> {
    const nowMs = this.clock.now();
    const expiresMs = nowMs + ACCESS_TOKEN_TTL_MS;
    const token = await new SignJWT({ sid: loginId, ims: nowMs })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(userId)
      .setIssuedAt(Math.floor(nowMs / 1000))
      .setExpirationTime(Math.floor(expiresMs / 1000))
      .sign(this.key);
    return { token, expiresMs };
  }

  /** The claims of a valid, unexpired token, or null for anything else. */
  async verify(token: string): Promise<AccessClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        currentDate: new Date(this.clock.now()),
      });
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.sid !== 'string' ||
        typeof payload.ims !== 'number'
      )
        return null;
      return { userId: payload.sub, loginId: payload.sid, issuedMs: payload.ims };
    } catch {
      return null;
    }
  }
}
