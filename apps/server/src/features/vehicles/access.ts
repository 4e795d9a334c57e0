import type { VehicleAccessLevel } from '@tacho/protocol';
import { hasScope } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';

/** What one may do with a vehicle. Later features map their operations onto these. */
export type VehicleAction =
  /** See it and its telemetry, state, history, sessions. */
  | 'read'
  /** Write telemetry for it. */
  | 'publish'
  /** Change it, its device tokens, alert rules; export; clear trouble codes. */
  | 'manage'
  /** Give and take other people's access. */
  | 'share'
  | 'delete';

/** A user's standing grant on a vehicle someone else owns (vehicle_access.role). */
export type Grant = 'viewer' | 'operator' | null;

/**
 * The caller's relation to the vehicle, before token scopes: `owner`, `admin` (sees everything),
 * `operator`/`viewer` (shared), or null (none). A person whose own role is viewer is at most a viewer.
 */
export function accessLevel(
  principal: Principal,
  vehicle: { readonly id: string; readonly owner_id: string },
  grant: Grant,
): VehicleAccessLevel | null {
  if (principal.kind !== 'user') return null;
  if (principal.vehicleIds && !principal.vehicleIds.includes(vehicle.id)) return null;
  if (vehicle.owner_id === principal.userId) return principal.role === 'viewer' ? 'viewer' : 'owner';
  if (principal.role === 'admin') return 'admin';
  if (grant === 'operator') return principal.role === 'operator' ? 'operator' : 'viewer';
  return grant;
}

const allowed: Record<VehicleAccessLevel, ReadonlySet<VehicleAction>> = {
  owner: new Set(['read', 'publish', 'manage', 'share', 'delete']),
  admin: new Set(['read', 'publish', 'manage', 'share', 'delete']),
  operator: new Set(['read', 'publish', 'manage']),
  viewer: new Set(['read']),
};

/**
 * The one access rule for vehicles. Pure: the caller supplies the grant (`Vehicles.can` loads it).
 * A vehicle token may only publish for its own vehicle; an API token is further narrowed by its scopes
 * (`read` for reading, `write` for the rest) and its vehicle list.
 */
export function decide(
  principal: Principal,
  action: VehicleAction,
  vehicle: { readonly id: string; readonly owner_id: string },
  grant: Grant,
): boolean {
  if (principal.kind === 'vehicle') return action === 'publish' && principal.vehicleId === vehicle.id;
  if (!hasScope(principal, action === 'read' ? 'read' : 'write')) return false;
  const level = accessLevel(principal, vehicle, grant);
  return level !== null && allowed[level].has(action);
}
