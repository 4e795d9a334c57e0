import type { Role } from '../../db/index.js';
import { newId } from '../../lib/crypto.js';
import type { Auth } from './index.js';
import { hashPassword } from './passwords.js';

/** What tests need of an app to make users. */
interface AppLike {
  readonly storage: { readonly db: import('../../db/index.js').Db };
  readonly clock: { now(): number };
  readonly auth: Auth;
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
  role: Role;
  /** An API token with every scope the role allows: `authorization: Bearer ${token}`. */
  token: string;
  /** `{ authorization: 'Bearer …' }`, ready for `inject({ headers })`. */
  headers: { authorization: string };
}

let counter = 0;

/**
 * Inserts a user with a known password and an all-scopes API token. For tests of any feature:
 *
 *     const alice = await createTestUser(app, 'operator');
 *     await app.http.inject({ method: 'GET', url: '/api/v1/vehicles', headers: alice.headers });
 */
export async function createTestUser(
  app: AppLike,
  role: Role,
  options: { email?: string; password?: string; name?: string } = {},
): Promise<TestUser> {
  counter += 1;
  const id = newId();
  const email = options.email ?? `${role}${counter}-${id.slice(0, 8)}@example.test`;
  const password = options.password ?? `correct horse battery ${counter}`;
  const now = app.clock.now();
  await app.storage.db
    .insertInto('users')
    .values({
      id,
      email,
      name: options.name ?? `${role} ${counter}`,
      password_hash: await hashPassword(password),
      role,
      disabled_ms: null,
      tokens_valid_after_ms: 0,
      created_ms: now,
      updated_ms: now,
    })
    .execute();
  const scopes = role === 'admin' ? ['read', 'write', 'admin'] : ['read', 'write'];
  const { token } = await app.auth.tokens.create({ userId: id, name: 'test', scopes });
  return { id, email, password, role, token, headers: { authorization: `Bearer ${token}` } };
}
