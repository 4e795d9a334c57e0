import { expect } from 'vitest';
import type { App } from '../../app.js';
import { createTestUser, type TestUser } from '../auth/testing.js';

let counter = 0;

/** A 17-character VIN unique within the test run (no I, O or Q). */
export function testVin(prefix = 'RLLV'): string {
  counter += 1;
  const tail = `${process.pid % 1000}${counter}`.padStart(8, '0').slice(-8);
  return `${prefix}${'TESTCAR00000'.slice(0, 17 - prefix.length - 8)}${tail}`.toUpperCase();
}

export interface TestVehicle {
  id: string;
  vin: string;
  owner: TestUser;
  /** The vehicle token: MQTT password, `Authorization: Bearer`, OwnTracks Basic password. */
  token: string;
}

/** An operator, one of their vehicles, and a vehicle token for it. */
export async function createTestVehicle(
  app: App,
  fields: { make?: string; model?: string; year?: number } = {},
  owner?: TestUser,
): Promise<TestVehicle> {
  const user = owner ?? (await createTestUser(app, 'operator'));
  const vin = testVin();
  const created = await app.http.inject({
    method: 'POST',
    url: '/api/v1/vehicles',
    headers: user.headers,
    payload: { vin, name: 'test car', ...fields },
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const token = await app.http.inject({
    method: 'POST',
    url: `/api/v1/vehicles/${id}/tokens`,
    headers: user.headers,
    payload: { name: 'device' },
  });
  expect(token.statusCode, token.body).toBe(201);
  return { id, vin, owner: user, token: token.json().token };
}

/** What the database holds for a vehicle after ingestion. */
export async function storedFor(app: App, vehicleId: string) {
  const db = app.storage.db;
  await app.telemetry.pipeline.flushDerived();
  const samples = await db
    .selectFrom('samples')
    .selectAll()
    .where('vehicle_id', '=', vehicleId)
    .orderBy('ts_ms')
    .orderBy('seq')
    .execute();
  const state = Object.fromEntries(
    (await db.selectFrom('vehicle_state').selectAll().where('vehicle_id', '=', vehicleId).execute()).map(
      (r) => [r.metric, JSON.parse(r.value)],
    ),
  );
  const rawKeys = await db.selectFrom('raw_keys').selectAll().where('vehicle_id', '=', vehicleId).execute();
  const deadLetters = await db.selectFrom('dead_letters').selectAll().orderBy('id').execute();
  return {
    samples: samples.map((s) => ({ ...s, ts_ms: Number(s.ts_ms), metrics: JSON.parse(s.metrics) })),
    state,
    raw: Object.fromEntries(
      rawKeys.map((r) => [
        r.device_key,
        { value: JSON.parse(r.value), canonical: r.canonical_key, unit: r.unit },
      ]),
    ),
    deadLetters: deadLetters.map((d) => d.reason),
  };
}
