import type { TokenScope } from '@tacho/protocol';
import { Forbidden, Unauthorized } from '../../lib/errors.js';
import type { Principal } from './principal.js';

export type UserPrincipal = Extract<Principal, { kind: 'user' }>;

/** `telemetry` ranks nowhere: it neither includes nor is included in the others. */
const scopeRank: Record<Exclude<TokenScope, 'telemetry'>, number> = { read: 1, write: 2, admin: 3 };

/**
 * Whether the principal's token allows `scope`. Scopes nest: `write` includes `read`, `admin` includes
 * both. `telemetry` (the fleet-telemetry broker login) is granted only by itself, and grants nothing
 * else. A cookie login has no scopes and may do all its role allows.
 */
export function hasScope(principal: Principal, scope: TokenScope): boolean {
  if (principal.kind !== 'user') return false;
  if (principal.scopes === undefined) return true;
  if (scope === 'telemetry') return principal.scopes.includes('telemetry');
  const wanted = scopeRank[scope];
  return principal.scopes.some((s) => (scopeRank[s as keyof typeof scopeRank] ?? 0) >= wanted);
}

/** A person (cookie login or API token), not a device; devices get 403 on people's routes. */
export function requireUser(principal: Principal | null): UserPrincipal {
  if (!principal) throw new Unauthorized();
  if (principal.kind !== 'user') throw new Forbidden('a vehicle token may only publish telemetry');
  return principal;
}

/** A person whose token allows `scope`. */
export function requireScope(principal: Principal | null, scope: TokenScope): UserPrincipal {
  const user = requireUser(principal);
  if (!hasScope(user, scope))
    throw new Forbidden(`this token lacks the "${scope}" scope`, 'insufficient_scope');
  return user;
}

/** An admin acting with admin rights (a cookie login, or a token with the admin scope). */
export function requireAdmin(principal: Principal | null): UserPrincipal {
  const user = requireUser(principal);
  if (user.role !== 'admin') throw new Forbidden('only an admin may do this');
  if (!hasScope(user, 'admin'))
    throw new Forbidden('this token lacks the "admin" scope', 'insufficient_scope');
  return user;
}

/** Whether the principal is an admin acting with admin rights. */
export function isAdmin(principal: Principal): boolean {
  return principal.kind === 'user' && principal.role === 'admin' && hasScope(principal, 'admin');
}
