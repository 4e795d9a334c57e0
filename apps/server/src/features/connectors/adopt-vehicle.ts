import type { CreateVehicleRequest } from '@tacho/protocol';
import { Conflict, Forbidden } from '../../lib/errors.js';
import type { UserPrincipal } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { Vehicles } from '../vehicles/index.js';
import type { ConnectorAccount } from './accounts.js';

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
