import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';

const VIN = '5YJ3E1EA7KF000001';
const VIN2 = 'WVWZZZ1JZXW000002';

for (const engine of engines) {
  describe(`vehicles and access [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    async function addVehicle(headers: Record<string, string>, vin = VIN, name = 'Model 3') {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers,
        payload: { vin, name },
      });
      expect(res.statusCode).toBe(201);
      return res.json() as { id: string; vin: string; access: string };
    }

    it('lets an operator add a vehicle with a normalized VIN, and refuses bad and duplicate VINs', async () => {
      app = await createTestApp(engine);
      const op = await createTestUser(app, 'operator');
      const created = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: op.headers,
        payload: { vin: ' 5yj3e1ea7kf000001 ', name: 'Model 3', make: 'Tesla', year: 2019 },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({
        vin: VIN,
        name: 'Model 3',
        make: 'Tesla',
        year: 2019,
        ownerId: op.id,
        access: 'owner',
      });

      const dup = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: op.headers,
        payload: { vin: VIN, name: 'x' },
      });
      expect(dup.statusCode).toBe(409);
      expect(dup.json().error.code).toBe('duplicate_vin');

      for (const vin of [
        '5YJ3E1EA7KF00000I',
        '5YJ3E1EA7KF00000O',
        '5YJ3E1EA7KF00000Q',
        '5YJ3E1EA7KF0000012',
      ]) {
        const bad = await app.http.inject({
          method: 'POST',
          url: '/api/v1/vehicles',
          headers: op.headers,
          payload: { vin, name: 'x' },
        });
        expect(bad.statusCode).toBe(400);
      }
      const viewer = await createTestUser(app, 'viewer');
      const refused = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: viewer.headers,
        payload: { vin: VIN2, name: 'x' },
      });
      expect(refused.statusCode).toBe(403);
    });

    it('shows each user only their vehicles, answers 404 for others, and lets an admin see all', async () => {
      app = await createTestApp(engine);
      const alice = await createTestUser(app, 'operator');
      const bob = await createTestUser(app, 'operator');
      const admin = await createTestUser(app, 'admin');
      const a = await addVehicle(alice.headers, VIN, 'Alice car');
      await addVehicle(bob.headers, VIN2, 'Bob car');

      const list = await app.http.inject({ method: 'GET', url: '/api/v1/vehicles', headers: alice.headers });
      expect(list.json().map((v: { name: string }) => v.name)).toEqual(['Alice car']);
      const other = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${a.id}`,
        headers: bob.headers,
      });
      expect(other.statusCode).toBe(404);
      const patch = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/vehicles/${a.id}`,
        headers: bob.headers,
        payload: { name: 'mine' },
      });
      expect(patch.statusCode).toBe(404);
      const missing = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles/no-such-id',
        headers: bob.headers,
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual(other.json());

      const all = await app.http.inject({ method: 'GET', url: '/api/v1/vehicles', headers: admin.headers });
      expect(all.json().map((v: { name: string; access: string }) => [v.name, v.access])).toEqual([
        ['Alice car', 'admin'],
        ['Bob car', 'admin'],
      ]);
      const anonymous = await app.http.inject({ method: 'GET', url: '/api/v1/vehicles' });
      expect(anonymous.statusCode).toBe(401);
    });

    it('shares a vehicle read-only with a viewer, and unsharing hides it again and emits access.revoked', async () => {
      app = await createTestApp(engine);
      const owner = await createTestUser(app, 'operator');
      const viewer = await createTestUser(app, 'viewer');
      const v = await addVehicle(owner.headers);
      const revoked: unknown[] = [];
      app.events.on('access.revoked', (e) => revoked.push(e));

      const share = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: owner.headers,
        payload: { email: viewer.email.toUpperCase(), role: 'viewer' },
      });
      expect(share.statusCode).toBe(200);
      expect(share.json()).toMatchObject({ userId: viewer.id, role: 'viewer' });
      const seen = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}`,
        headers: viewer.headers,
      });
      expect(seen.statusCode).toBe(200);
      expect(seen.json().access).toBe('viewer');
      const change = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/vehicles/${v.id}`,
        headers: viewer.headers,
        payload: { name: 'x' },
      });
      expect(change.statusCode).toBe(403);
      const listAccess = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: owner.headers,
      });
      expect(listAccess.json()).toEqual([
        expect.objectContaining({ userId: viewer.id, email: viewer.email, role: 'viewer' }),
      ]);

      const unshare = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${v.id}/access/${viewer.id}`,
        headers: owner.headers,
      });
      expect(unshare.statusCode).toBe(204);
      expect(revoked).toEqual([{ vehicleId: v.id, userId: viewer.id }]);
      const gone = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}`,
        headers: viewer.headers,
      });
      expect(gone.statusCode).toBe(404);

      // Unsharing by email, the way the share request names the user.
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: owner.headers,
        payload: { email: viewer.email, role: 'viewer' },
      });
      const byEmail = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: owner.headers,
        payload: { email: viewer.email.toUpperCase() },
      });
      expect(byEmail.statusCode).toBe(204);
      const goneAgain = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}`,
        headers: viewer.headers,
      });
      expect(goneAgain.statusCode).toBe(404);
      const nobody = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: owner.headers,
        payload: { email: viewer.email },
      });
      expect(nobody.statusCode).toBe(404);
    });

    it('gives an operator with shared access manage rights but not share or delete', async () => {
      app = await createTestApp(engine);
      const owner = await createTestUser(app, 'operator');
      const op = await createTestUser(app, 'operator');
      const v = await addVehicle(owner.headers);
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: owner.headers,
        payload: { email: op.email, role: 'operator' },
      });
      const patch = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/vehicles/${v.id}`,
        headers: op.headers,
        payload: { name: 'Renamed' },
      });
      expect(patch.statusCode).toBe(200);
      expect(patch.json()).toMatchObject({ name: 'Renamed', access: 'operator' });
      const del = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${v.id}`,
        headers: op.headers,
      });
      expect(del.statusCode).toBe(403);
      const share = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}/access`,
        headers: op.headers,
      });
      expect(share.statusCode).toBe(403);
      await app.storage.db
        .insertInto('samples')
        .values({
          vehicle_id: v.id,
          ts_ms: 1,
          seq: 0,
          received_ms: 1,
          source: 'test',
          metrics: '{}',
          lat: null,
          lon: null,
          alt_m: null,
          heading_deg: null,
          speed_kmh: null,
          accuracy_m: null,
        })
        .execute();
      const ownerDel = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${v.id}`,
        headers: owner.headers,
      });
      expect(ownerDel.statusCode).toBe(204);
      const after = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}`,
        headers: owner.headers,
      });
      expect(after.statusCode).toBe(404);
      const samples = await app.storage.db
        .selectFrom('samples')
        .select('ts_ms')
        .where('vehicle_id', '=', v.id)
        .execute();
      expect(samples).toEqual([]);
    });

    it('issues a vehicle token that may only publish for its vehicle and is the MQTT password for its VIN', async () => {
      app = await createTestApp(engine);
      const owner = await createTestUser(app, 'operator');
      const v = await addVehicle(owner.headers);
      const w = await addVehicle(owner.headers, VIN2, 'Other');
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${v.id}/tokens`,
        headers: owner.headers,
        payload: { name: 'dongle' },
      });
      expect(res.statusCode).toBe(201);
      const { token, info } = res.json();
      expect(token).toMatch(/^tacho_[A-Za-z0-9_-]{43}$/);
      expect(info).toMatchObject({
        name: 'dongle',
        vehicleId: v.id,
        scopes: ['publish'],
        prefix: token.slice(0, 12),
      });
      const stored = await app.storage.db
        .selectFrom('api_tokens')
        .select('token_hash')
        .where('id', '=', info.id)
        .executeTakeFirstOrThrow();
      expect(stored.token_hash).not.toContain(token.slice(6, 20));

      const principal = await app.auth.authenticateBearer(token);
      expect(principal).toMatchObject({ kind: 'vehicle', vehicleId: v.id, vin: VIN });
      const vehicle = await app.vehicles.findByRef(VIN);
      const other = await app.vehicles.findByRef(VIN2);
      expect(await app.vehicles.can(principal!, 'publish', vehicle!)).toBe(true);
      expect(await app.vehicles.can(principal!, 'read', vehicle!)).toBe(false);
      expect(await app.vehicles.can(principal!, 'publish', other!)).toBe(false);
      expect(other?.id).toBe(w.id);

      expect(await app.auth.authenticateVehicleDevice(VIN, token)).toMatchObject({
        kind: 'vehicle',
        vehicleId: v.id,
      });
      expect(await app.auth.authenticateVehicleDevice(VIN2, token)).toBeNull();
      expect(await app.auth.authenticateVehicleDevice(VIN, `${token}x`)).toBeNull();
      expect(await app.auth.authenticateVehicleDevice('', '')).toBeNull();

      const asDevice = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(asDevice.statusCode).toBe(403);
      const bare = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${w.id}/tokens`,
        headers: owner.headers,
      });
      expect(bare.statusCode).toBe(201);
      expect(bare.json().info.name).toBe('Other device');
      const list = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${v.id}/tokens`,
        headers: owner.headers,
      });
      expect(list.json().map((t: { id: string }) => t.id)).toEqual([info.id]);
      const revoke = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${v.id}/tokens/${info.id}`,
        headers: owner.headers,
      });
      expect(revoke.statusCode).toBe(204);
      expect(await app.auth.authenticateBearer(token)).toBeNull();
      const refused = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().error.code).toBe('invalid_token');
    });
  });
}
