import { isValidVin, normalizeVin, type VehicleRefusals } from '@tacho/protocol';
import type { Db, Vehicle } from '../../db/index.js';
import type { Grant } from './access.js';

/** Vehicle and vehicle_access queries, each written once for both engines. */
export class VehiclesRepo {
  constructor(private readonly db: Db) {}

  byId(id: string): Promise<Vehicle | undefined> {
    return this.db.selectFrom('vehicles').selectAll().where('id', '=', id).executeTakeFirst();
  }

  byVin(vin: string): Promise<Vehicle | undefined> {
    return this.db.selectFrom('vehicles').selectAll().where('vin', '=', vin).executeTakeFirst();
  }

  /**
   * By VIN (any case, spaces forgiven) or by id: a VIN has 17 characters without I, O and Q, an id is a
   * UUID (36 characters), so one never reads as the other.
   */
  byRef(ref: string): Promise<Vehicle | undefined> {
    const vin = normalizeVin(ref);
    return isValidVin(vin) ? this.byVin(vin) : this.byId(ref);
  }

  async grant(vehicleId: string, userId: string): Promise<Grant> {
    const row = await this.db
      .selectFrom('vehicle_access')
      .select('role')
      .where('vehicle_id', '=', vehicleId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role ?? null;
  }

  ownedBy(userId: string): Promise<Vehicle[]> {
    return this.db
      .selectFrom('vehicles')
      .selectAll()
      .where('owner_id', '=', userId)
      .orderBy('created_ms')
      .execute();
  }

  all(): Promise<Vehicle[]> {
    return this.db.selectFrom('vehicles').selectAll().orderBy('name').orderBy('id').execute();
  }

  /** Vehicles the user owns or has been given access to, with that grant. */
  async visibleTo(userId: string): Promise<Array<Vehicle & { grant: Grant }>> {
    const rows = await this.db
      .selectFrom('vehicles')
      .leftJoin('vehicle_access', (join) =>
        join.onRef('vehicle_access.vehicle_id', '=', 'vehicles.id').on('vehicle_access.user_id', '=', userId),
      )
      .selectAll('vehicles')
      .select('vehicle_access.role as grant')
      .where((eb) => eb.or([eb('vehicles.owner_id', '=', userId), eb('vehicle_access.user_id', '=', userId)]))
      .orderBy('vehicles.name')
      .orderBy('vehicles.id')
      .execute();
    return rows.map((r) => ({ ...r, grant: r.grant ?? null }));
  }

  /** Of these vehicles, the ones that exist, with their owner and the user's grant on each. */
  ownersAndGrants(
    vehicleIds: readonly string[],
    userId: string,
  ): Promise<Array<{ id: string; owner_id: string; grant: Grant }>> {
    return this.db
      .selectFrom('vehicles')
      .leftJoin('vehicle_access', (join) =>
        join.onRef('vehicle_access.vehicle_id', '=', 'vehicles.id').on('vehicle_access.user_id', '=', userId),
      )
      .select(['vehicles.id', 'vehicles.owner_id', 'vehicle_access.role as grant'])
      .where('vehicles.id', 'in', vehicleIds)
      .execute();
  }

  async insert(vehicle: Vehicle): Promise<void> {
    await this.db.insertInto('vehicles').values(vehicle).execute();
  }

  async update(id: string, changes: Partial<Omit<Vehicle, 'id' | 'owner_id' | 'created_ms'>>): Promise<void> {
    await this.db.updateTable('vehicles').set(changes).where('id', '=', id).execute();
  }

  /** Deletes the vehicle and everything hanging off it (cascades); answers who had access. */
  async delete(id: string): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const grants = await trx
        .selectFrom('vehicle_access')
        .select('user_id')
        .where('vehicle_id', '=', id)
        .execute();
      await trx.deleteFrom('api_tokens').where('vehicle_id', '=', id).execute();
      // Tables keyed by vehicle without a foreign key (for write speed) are cleared by hand.
      await trx.deleteFrom('samples').where('vehicle_id', '=', id).execute();
      await trx.deleteFrom('rollups_minute').where('vehicle_id', '=', id).execute();
      await trx.deleteFrom('rollups_hour').where('vehicle_id', '=', id).execute();
      await trx.deleteFrom('vehicle_refusals').where('vehicle_id', '=', id).execute();
      await trx.deleteFrom('vehicles').where('id', '=', id).execute();
      return grants.map((g) => g.user_id);
    });
  }

  /** How many of the vehicle's messages were refused, and the last reason (the ingest batches count them). */
  async refusals(vehicleId: string): Promise<VehicleRefusals | null> {
    const row = await this.db
      .selectFrom('vehicle_refusals')
      .selectAll()
      .where('vehicle_id', '=', vehicleId)
      .executeTakeFirst();
    if (!row) return null;
    return {
      count: Number(row.refused),
      firstMs: Number(row.first_ms),
      lastMs: Number(row.last_ms),
      lastReason: row.last_reason,
    };
  }

  async share(vehicleId: string, userId: string, role: 'viewer' | 'operator', nowMs: number): Promise<void> {
    await this.db
      .insertInto('vehicle_access')
      .values({ vehicle_id: vehicleId, user_id: userId, role, created_ms: nowMs })
      .onConflict((oc) => oc.columns(['vehicle_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async unshare(vehicleId: string, userId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('vehicle_access')
      .where('vehicle_id', '=', vehicleId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  listAccess(vehicleId: string) {
    return this.db
      .selectFrom('vehicle_access')
      .innerJoin('users', 'users.id', 'vehicle_access.user_id')
      .select([
        'vehicle_access.user_id',
        'vehicle_access.role',
        'vehicle_access.created_ms',
        'users.email',
        'users.name',
      ])
      .where('vehicle_access.vehicle_id', '=', vehicleId)
      .orderBy('users.email')
      .execute();
  }

  userIdByEmail(email: string): Promise<{ id: string } | undefined> {
    return this.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
  }
}
