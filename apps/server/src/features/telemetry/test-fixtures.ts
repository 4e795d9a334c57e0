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

/** What tests need of an app to make a vehicle with a device token through the real routes. */
interface AppLike {
  readonly http: { inject: import('fastify').FastifyInstance['inject'] };
}

/** Creates a vehicle owned by `owner` and a device token for it, through the API. */
export async function createVehicleWithToken(
  app: AppLike,
  owner: { headers: { authorization: string } },
  vin: string,
): Promise<{ vehicleId: string; vin: string; token: string }> {
  const created = await app.http.inject({
    method: 'POST',
    url: '/api/v1/vehicles',
    headers: owner.headers,
    payload: { vin, name: `Car ${vin.slice(-4)}` },
  });
  if (created.statusCode !== 201) throw new Error(`vehicle not created: ${created.body}`);
  const vehicleId = created.json<{ id: string }>().id;
  const token = await app.http.inject({
    method: 'POST',
    url: `/api/v1/vehicles/${vehicleId}/tokens`,
    headers: owner.headers,
    payload: { name: 'device' },
  });
  if (token.statusCode !== 201) throw new Error(`token not created: ${token.body}`);
  return { vehicleId, vin, token: token.json<{ token: string }>().token };
}
