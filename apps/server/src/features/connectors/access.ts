import type { CreateVehicleRequest } from '@tacho/protocol';
import { Conflict, Forbidden, NotFound } from '../../lib/errors.js';
import { isAdmin, requireScope, type UserPrincipal } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { Vehicles } from '../vehicles/index.js';
import type { ConnectorAccount, ConnectorAccounts, ConnectorKind } from './accounts.js';

/** Who may connect a maker account or add its vehicles: a user with write scope who is not a viewer. */
export function connectingUser(principal: Principal): UserPrincipal {
  const user = requireScope(principal, 'write');
  if (user.role === 'viewer') throw new Forbidden('viewers cannot connect accounts or add vehicles');
  return user;
}

/** The maker account, when the principal may see it (its owner, an admin); else 404 naming the maker. */
export async function visibleAccount(
  accounts: ConnectorAccounts,
  principal: Principal,
  id: string,
  kind: ConnectorKind,
  maker: string,
): Promise<ConnectorAccount> {
  const user = requireScope(principal, 'read');
  const account = await accounts.get(id);
  if (account?.kind !== kind || (account.ownerId !== user.userId && !isAdmin(user)))
    throw new NotFound(`no such ${maker} account`);
  return account;
}

/**
 * The Tacho vehicle a maker's car becomes when its account's owner adds it (every connector): the
 * owner's vehicle with that VIN made earlier (by hand, or through another connector) is linked rather
 * than doubled; someone else's is a conflict; a new one is made only by the account's owner.
 */
export async function adoptVehicle(
  vehicles: Vehicles,
  principal: Principal,
  user: UserPrincipal,
  account: ConnectorAccount,
  vehicle: CreateVehicleRequest & { vin: string },
): Promise<string> {
  const existing = await vehicles.findByRef(vehicle.vin);
  if (existing) {
    if (existing.owner_id !== account.ownerId)
      throw new Conflict(
        `a vehicle with VIN ${vehicle.vin} exists already and belongs to someone else`,
        'duplicate_vin',
      );
    return existing.id;
  }
  if (account.ownerId !== user.userId) throw new Forbidden('only the account owner adds its vehicles');
  return (await vehicles.create(principal, vehicle)).id;
}
