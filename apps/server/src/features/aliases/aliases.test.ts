import type { AliasView } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { Aliases } from './aliases.service.js';

let vinCounter = 0;
function nextVin(): string {
  vinCounter += 1;
  return `RLLVF9TEST${String(100000 + vinCounter).slice(-6)}A`.slice(0, 17);
}

for (const engine of engines) {
  describe(`alias registry [${engine}]`, () => {
    let app: TestApp;
    let admin: TestUser;
    let alice: TestUser;
    let bob: TestUser;

    async function vehicle(owner: TestUser, model = 'VF 8', year = 2024): Promise<string> {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { vin: nextVin(), name: 'car', make: 'VinFast', model, year },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id;
    }
    const post = (user: TestUser, payload: Record<string, unknown>) =>
      app.http.inject({ method: 'POST', url: '/api/v1/aliases', headers: user.headers, payload });
    const list = async (user: TestUser, query: string): Promise<AliasView[]> => {
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/aliases?${query}`,
        headers: user.headers,
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };

    beforeEach(async () => {
      app = await createTestApp(engine);
      admin = await createTestUser(app, 'admin');
      alice = await createTestUser(app, 'operator');
      bob = await createTestUser(app, 'operator');
    });
    afterEach(async () => {
      await app.dispose();
    });

    it('adds an entry from a vehicle, with its contributor and one confirmation', async () => {
      const car = await vehicle(alice);
      const res = await post(alice, {
        vehicleId: car,
        deviceKey: '34183/1/99',
        canonicalKey: 'power_kw',
        unit: 'W',
        scale: 0.001,
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({
        source: 'registry',
        make: 'VINFAST',
        model: 'VF8',
        year: 2024,
        deviceKey: '34183_00001_00099',
        canonicalKey: 'power_kw',
        unit: 'W',
        scale: 0.001,
        contributorId: alice.id,
        confirmations: 1,
      });
      const known = await list(bob, 'make=vinfast&model=VF8&year=2024');
      expect(known.filter((a) => a.source === 'registry').map((a) => a.deviceKey)).toEqual([
        '34183_00001_00099',
      ]);
      // The built-in catalog for the model comes along, after the registry entries.
      expect(known.find((a) => a.id === 'catalog:34183_00001_00009')).toMatchObject({
        source: 'catalog',
        name: 'VEHICLE_STATUS_HV_BATTERY_SOC',
        canonicalKey: 'battery_level_pct',
      });
    });

    it('lists proposals as pending with their confirmations, and applied once enough vehicles confirmed', async () => {
      const proposal = { deviceKey: '34183/1/98', canonicalKey: 'power_kw', scale: 0.001 };
      const first = await post(alice, { vehicleId: await vehicle(alice), ...proposal });
      expect(first.statusCode, first.body).toBe(201);
      const registry = async (user: TestUser, query = '') => {
        const res = await app.http.inject({
          method: 'GET',
          url: `/api/v1/aliases/registry${query}`,
          headers: user.headers,
        });
        expect(res.statusCode, res.body).toBe(200);
        return res.json() as {
          needed: number;
          items: Array<{ id: string; state: string; confirmations: number; model: string }>;
        };
      };
      const pending = await registry(bob);
      expect(pending.needed).toBe(2);
      expect(pending.items).toMatchObject([
        { id: first.json().id, state: 'pending', confirmations: 1, model: 'VF8' },
      ]);
      const second = await post(bob, { vehicleId: await vehicle(bob), ...proposal });
      expect(second.statusCode, second.body).toBe(200);
      expect((await registry(alice, '?make=vinfast&model=VF 8')).items).toMatchObject([
        { id: first.json().id, state: 'applied', confirmations: 2 },
      ]);
      expect((await registry(alice, '?make=vinfast&model=VF9')).items).toEqual([]);
    });

    it("lists the device keys the caller's cars actually sent, per model, with their mapping", async () => {
      const car = await vehicle(alice, 'VF 8', 2024);
      const now = app.clock.now();
      const raw = (device_key: string, canonical_key: string | null) => ({
        vehicle_id: car,
        device_key,
        value: '1',
        first_seen_ms: now,
        last_seen_ms: now,
        canonical_key,
        unit: null,
      });
      await app.storage.db
        .insertInto('raw_keys')
        .values([
          raw('34183_00001_00009', 'battery_level_pct'),
          raw('34183_00001_00098', null),
          raw('lwt', null),
        ])
        .execute();
      const seen = async (user: TestUser) => {
        const res = await app.http.inject({
          method: 'GET',
          url: '/api/v1/aliases/seen',
          headers: user.headers,
        });
        expect(res.statusCode, res.body).toBe(200);
        return res.json();
      };
      expect(await seen(alice)).toEqual({
        models: [
          {
            make: 'VINFAST',
            model: 'VF8',
            year: 2024,
            vehicles: 1,
            keys: [
              {
                deviceKey: '34183_00001_00009',
                name: 'VEHICLE_STATUS_HV_BATTERY_SOC',
                vehicles: 1,
                canonicalKey: 'battery_level_pct',
              },
              { deviceKey: '34183_00001_00098', vehicles: 1, canonicalKey: null },
            ],
          },
        ],
      });
      expect(await seen(bob)).toEqual({ models: [] });
    });

    it('merges identical posts into one entry and counts distinct vehicles, not posts', async () => {
      const [a1, a2, b1] = [await vehicle(alice), await vehicle(alice), await vehicle(bob)];
      const entry = { deviceKey: '34183_00001_00099', canonicalKey: 'power_kw', scale: 0.001 };
      expect((await post(alice, { ...entry, vehicleId: a1 })).statusCode).toBe(201);
      const again = await post(alice, { ...entry, vehicleId: a1 });
      expect(again.statusCode).toBe(200);
      expect(again.json().confirmations).toBe(1);
      expect((await post(alice, { ...entry, vehicleId: a2 })).json().confirmations).toBe(2);
      const third = await post(bob, { ...entry, vehicleId: b1 });
      expect(third.json()).toMatchObject({ confirmations: 3, contributorId: alice.id });
      // A different proposal for the same key is a separate entry, not an overwrite.
      const other = await post(bob, { ...entry, vehicleId: b1, scale: 1, unit: '' });
      expect(other.statusCode).toBe(201);
      const known = (await list(alice, 'make=VinFast&model=VF8')).filter((a) => a.source === 'registry');
      expect(known.map((a) => [a.scale, a.confirmations])).toEqual([
        [0.001, 3],
        [1, 1],
      ]);
    });

    it('never loses entries when many posts arrive at once', async () => {
      const cars = await Promise.all([vehicle(alice), vehicle(alice), vehicle(bob), vehicle(bob)]);
      const posts = [];
      for (let i = 0; i < 10; i++) {
        for (const [n, car] of cars.entries()) {
          const user = n < 2 ? alice : bob;
          // Every vehicle posts the same shared entry and one entry of its own, ten times over.
          posts.push(post(user, { vehicleId: car, deviceKey: '34183/1/200', canonicalKey: 'motor_rpm' }));
          posts.push(
            post(user, { vehicleId: car, deviceKey: `34183/1/${300 + n}`, canonicalKey: 'motor_rpm' }),
          );
        }
      }
      const replies = await Promise.all(posts);
      expect(replies.map((r) => r.statusCode).filter((s) => s !== 200 && s !== 201)).toEqual([]);
      expect(replies.filter((r) => r.statusCode === 201)).toHaveLength(5);
      const known = (await list(alice, 'make=VINFAST&model=VF 8')).filter((a) => a.source === 'registry');
      expect(known.map((a) => [a.deviceKey, a.confirmations]).sort()).toEqual([
        ['34183_00001_00200', 4],
        ['34183_00001_00300', 1],
        ['34183_00001_00301', 1],
        ['34183_00001_00302', 1],
        ['34183_00001_00303', 1],
      ]);
    });

    it('filters by model and year; model-less and year-less entries apply to all', async () => {
      await post(alice, { make: 'VinFast', deviceKey: '1/1/1', canonicalKey: 'speed_kmh' });
      await post(alice, { make: 'VinFast', model: 'VF9', deviceKey: '1/1/2', canonicalKey: 'speed_kmh' });
      await post(alice, {
        make: 'VinFast',
        model: 'VF9',
        year: 2023,
        deviceKey: '1/1/3',
        canonicalKey: 'speed_kmh',
      });
      await post(alice, { make: 'Tesla', deviceKey: 'VehicleSpeed', canonicalKey: 'speed_kmh' });
      const keys = async (q: string) =>
        (await list(alice, q))
          .filter((a) => a.source === 'registry')
          .map((a) => a.deviceKey)
          .sort();
      expect(await keys('make=VinFast&model=VF9&year=2024')).toEqual(['1_00001_00001', '1_00001_00002']);
      expect(await keys('make=VinFast&model=VF9&year=2023')).toEqual([
        '1_00001_00001',
        '1_00001_00002',
        '1_00001_00003',
      ]);
      expect(await keys('make=VinFast&model=VF8')).toEqual(['1_00001_00001']);
      expect(await keys('make=tesla')).toEqual(['VehicleSpeed']);
    });

    it.each([
      [{ make: 'VinFast', deviceKey: '34183/1/9', canonicalKey: 'battery_percent' }, 'canonicalKey'],
      [{ make: 'VinFast', deviceKey: 'soc', canonicalKey: 'battery_level_pct' }, 'deviceKey'],
      [{ make: 'VinFast', deviceKey: '34183/1/1', canonicalKey: 'gear', scale: 2 }, 'scale'],
      [{ deviceKey: '34183/1/9', canonicalKey: 'battery_level_pct' }, 'make'],
    ])('refuses %j naming %s', async (payload, field) => {
      const res = await post(alice, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toContain(field);
    });

    it('confirms only for vehicles the caller manages; others are 404 / 403', async () => {
      const bobsCar = await vehicle(bob);
      const entry = { deviceKey: '34183/1/99', canonicalKey: 'power_kw' };
      expect((await post(alice, { ...entry, vehicleId: bobsCar })).statusCode).toBe(404);
      const viewer = await createTestUser(app, 'viewer');
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${bobsCar}/access`,
        headers: bob.headers,
        payload: { email: viewer.email, role: 'viewer' },
      });
      expect((await post(viewer, { ...entry, vehicleId: bobsCar })).statusCode).toBe(403);
      expect((await app.http.inject({ method: 'GET', url: '/api/v1/aliases?make=x' })).statusCode).toBe(401);
    });

    it('lets only an admin change or delete an entry', async () => {
      const created = (
        await post(alice, { make: 'VinFast', deviceKey: '34183/1/99', canonicalKey: 'power_kw' })
      ).json();
      const url = `/api/v1/aliases/${created.id}`;
      for (const user of [alice, bob]) {
        const patch = await app.http.inject({
          method: 'PATCH',
          url,
          headers: user.headers,
          payload: { scale: 0.001 },
        });
        expect(patch.statusCode).toBe(403);
        expect((await app.http.inject({ method: 'DELETE', url, headers: user.headers })).statusCode).toBe(
          403,
        );
      }
      const patched = await app.http.inject({
        method: 'PATCH',
        url,
        headers: admin.headers,
        payload: { scale: 0.001, unit: 'W' },
      });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({ scale: 0.001, unit: 'W', contributorId: alice.id });

      const twin = (
        await post(bob, { make: 'VinFast', deviceKey: '34183/1/99', canonicalKey: 'power_kw' })
      ).json();
      const clash = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/aliases/${twin.id}`,
        headers: admin.headers,
        payload: { scale: 0.001, unit: 'W' },
      });
      expect(clash.statusCode).toBe(409);

      expect((await app.http.inject({ method: 'DELETE', url, headers: admin.headers })).statusCode).toBe(204);
      expect((await app.http.inject({ method: 'DELETE', url, headers: admin.headers })).statusCode).toBe(404);
      expect((await list(alice, 'make=VinFast')).filter((a) => a.source === 'registry')).toHaveLength(1);
    });

    it('applies registry entries to decoding once confirmed by the vehicle or by two vehicles', async () => {
      const [mine, other1, other2] = [await vehicle(alice), await vehicle(bob), await vehicle(bob)];
      const aliases = new Aliases(app.storage.db, app.clock, app.vehicles);
      const car = { id: mine, make: 'VinFast', model: 'VF 8', year: 2024 };
      await post(bob, { vehicleId: other1, deviceKey: '34183/1/99', canonicalKey: 'power_kw', scale: 0.001 });
      expect((await aliases.mappingsFor(car)).get('34183_00001_00099')).toBeUndefined();
      await post(bob, { vehicleId: other2, deviceKey: '34183/1/99', canonicalKey: 'power_kw', scale: 0.001 });
      expect((await aliases.mappingsFor(car)).get('34183_00001_00099')).toMatchObject({
        canonical: 'power_kw',
        scale: 0.001,
      });
      // The vehicle's own confirmation applies at once, and overrides the static catalog.
      await post(alice, {
        vehicleId: mine,
        deviceKey: '34183/1/9',
        canonicalKey: 'usable_battery_level_pct',
      });
      expect((await aliases.mappingsFor(car)).get('34183_00001_00009')?.canonical).toBe(
        'usable_battery_level_pct',
      );
      expect((await aliases.mappingsFor({ ...car, id: other1 })).get('34183_00001_00009')?.canonical).toBe(
        'battery_level_pct',
      );
    });
  });
}
