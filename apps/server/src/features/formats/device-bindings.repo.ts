import type { Selectable } from 'kysely';
import type { Db, DeviceBindingsTable } from '../../db/index.js';

export type DeviceBinding = Selectable<DeviceBindingsTable>;
export type DeviceKind = DeviceBindingsTable['kind'];

/** Phone and tracker ids bound to vehicles (OwnTracks `user/device`, Traccar Client `id`). */
export class DeviceBindingsRepo {
  constructor(private readonly db: Db) {}

  async find(kind: DeviceKind, deviceId: string): Promise<DeviceBinding | undefined> {
    return this.db
      .selectFrom('device_bindings')
      .selectAll()
      .where('kind', '=', kind)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
  }

  async list(vehicleId: string): Promise<DeviceBinding[]> {
    return this.db
      .selectFrom('device_bindings')
      .selectAll()
      .where('vehicle_id', '=', vehicleId)
      .orderBy('kind')
      .orderBy('device_id')
      .execute();
  }

  /**
   * Binds the id to the vehicle, or updates the secret of the binding it already has. Returns the binding
   * as stored: when the id belongs to another vehicle, that one (the caller refuses).
   */
  async bind(binding: DeviceBinding): Promise<DeviceBinding> {
    const inserted = await this.db
      .insertInto('device_bindings')
      .values(binding)
      .onConflict((oc) => oc.columns(['kind', 'device_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return inserted;
    const existing = await this.find(binding.kind, binding.device_id);
    if (!existing || existing.vehicle_id !== binding.vehicle_id) return existing ?? binding;
    await this.db
      .updateTable('device_bindings')
      .set({ secret: binding.secret })
      .where('kind', '=', binding.kind)
      .where('device_id', '=', binding.device_id)
      .execute();
    return { ...existing, secret: binding.secret };
  }

  async remove(kind: DeviceKind, deviceId: string, vehicleId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('device_bindings')
      .where('kind', '=', kind)
      .where('device_id', '=', deviceId)
      .where('vehicle_id', '=', vehicleId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
