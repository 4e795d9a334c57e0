import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/index.js';

/** Inserts a user and a vehicle owned by them, straight into the database; returns the vehicle's id. */
export async function insertVehicle(db: Db, vin: string): Promise<string> {
  const userId = randomUUID();
  const vehicleId = randomUUID();
  const now = Date.now();
  await db
    .insertInto('users')
    .values({
      id: userId,
      email: `${userId}@example.test`,
      name: 'Owner',
      password_hash: null,
      role: 'operator',
      disabled_ms: null,
      tokens_valid_after_ms: 0,
      created_ms: now,
      updated_ms: now,
    })
    .execute();
  await db
    .insertInto('vehicles')
    .values({
      id: vehicleId,
      vin,
      name: `Car ${vin.slice(-4)}`,
      make: null,
      model: null,
      year: null,
      owner_id: userId,
      created_ms: now,
      updated_ms: now,
    })
    .execute();
  return vehicleId;
}

/** A syntactically valid VIN (17 characters, no I, O or Q) ending in the given number. */
export function testVin(n: number): string {
  return `5YJ3E1EA0PF${String(n).padStart(6, '0')}`;
}
