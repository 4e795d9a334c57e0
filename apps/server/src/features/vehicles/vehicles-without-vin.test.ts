import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { testVin } from '../telemetry/test-fixtures.js';

/** Issue 20.1: phones, trackers and old cars have no VIN; their id names them wherever a VIN can. */
for (const engine of engines) {
  describe(`vehicles without a VIN [${engine}]`, () => {
    let app: TestApp;
    let jane: TestUser;
    const clients: MqttClient[] = [];

    beforeEach(async () => {
      app = await createTestApp(engine, {}, { mqttPort: 0 });
      jane = await createTestUser(app, 'operator');
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      await app.dispose();
    });

    async function add(payload: object) {
      return app.http.inject({ method: 'POST', url: '/api/v1/vehicles', headers: jane.headers, payload });
    }
    async function deviceToken(vehicleId: string): Promise<string> {
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${vehicleId}/tokens`,
        headers: jane.headers,
      });
      return (res.json() as { token: string }).token;
    }
    const stored = () =>
      app.storage.db.selectFrom('samples').select(['vehicle_id', 'source']).orderBy('ts_ms').execute();

    it('adds a phone with no VIN (201), a second one too, and lists them with their kind', async () => {
      const phone = await add({ name: "Jane's phone", kind: 'phone' });
      expect(phone.statusCode).toBe(201);
      expect(phone.json()).toMatchObject({ name: "Jane's phone", kind: 'phone', vin: null });
      const tracker = await add({ name: 'Bike tracker', kind: 'tracker', vin: null });
      expect(tracker.statusCode).toBe(201);
      const car = await add({ name: 'Old car', vin: ` ${testVin(1).toLowerCase()} ` });
      expect(car.json()).toMatchObject({ kind: 'car', vin: testVin(1) });

      const list = await app.http.inject({ method: 'GET', url: '/api/v1/vehicles', headers: jane.headers });
      expect(
        (list.json() as Array<{ name: string; kind: string; vin: string | null }>).map((v) => [
          v.name,
          v.kind,
          v.vin,
        ]),
      ).toEqual([
        ['Bike tracker', 'tracker', null],
        ["Jane's phone", 'phone', null],
        ['Old car', 'car', testVin(1)],
      ]);
    });

    it('still validates a VIN when one is given, keeps it unique, and refuses an unknown kind', async () => {
      expect((await add({ name: 'x', vin: 'WVWZZZ1JZXW00000O' })).json()).toMatchObject({
        error: { code: 'invalid_vin' },
      });
      expect((await add({ name: 'a', vin: testVin(2) })).statusCode).toBe(201);
      const twice = await add({ name: 'b', vin: testVin(2) });
      expect([twice.statusCode, twice.json().error.code]).toEqual([409, 'duplicate_vin']);
      expect((await add({ name: 'c', kind: 'bicycle' })).statusCode).toBe(400);
      const renamed = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/vehicles/${(await add({ name: 'd' })).json().id}`,
        headers: jane.headers,
        payload: { kind: 'motorcycle' },
      });
      expect(renamed.json()).toMatchObject({ kind: 'motorcycle', vin: null });
    });

    it('takes telemetry over HTTP by id, native and VinFast, and by VIN as before', async () => {
      const phone = (await add({ name: 'Phone', kind: 'phone' })).json() as { id: string };
      const car = (await add({ name: 'Car', vin: testVin(3) })).json() as { id: string };
      const phoneToken = await deviceToken(phone.id);
      const carToken = await deviceToken(car.id);
      const post = (
        ref: string,
        token: string,
        url = `/api/v1/vehicles/${ref}/telemetry`,
        payload?: unknown,
      ) =>
        app.http.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${token}` },
          payload: (payload ?? { ts: Date.now() - 1000, metrics: { speed_kmh: 12 } }) as object,
        });
      expect((await post(phone.id, phoneToken)).json()).toMatchObject({ stored: 1 });
      // The car by its id and by its VIN: both name it.
      expect((await post(car.id, carToken)).json()).toMatchObject({ stored: 1 });
      const byVin = await post(testVin(3), carToken, undefined, {
        ts: Date.now(),
        metrics: { speed_kmh: 1 },
      });
      expect(byVin.json()).toMatchObject({ stored: 1 });
      const vinfast = await post(phone.id, phoneToken, `/api/v1/ingest/vinfast/${phone.id}`, [
        { deviceKey: '34183_00001_00009', value: '77', time: Date.now() },
      ]);
      expect(vinfast.statusCode).toBe(200);
      // Another vehicle's id with this token: refused like another VIN.
      expect((await post(car.id, phoneToken)).statusCode).toBe(404);
      const rows = await stored();
      expect(rows.filter((r) => r.vehicle_id === phone.id).length).toBeGreaterThanOrEqual(1);
      expect(rows.filter((r) => r.vehicle_id === car.id)).toHaveLength(2);
    });

    it('takes MQTT with the id as username and in the topic; a car logged in by VIN may use either', async () => {
      const phone = (await add({ name: 'Phone', kind: 'phone' })).json() as { id: string };
      const car = (await add({ name: 'Car', vin: testVin(4) })).json() as { id: string };
      const url = `mqtt://127.0.0.1:${app.broker!.port}`;
      const connect = async (username: string, password: string) => {
        const client = await mqtt.connectAsync(url, {
          username,
          password,
          reconnectPeriod: 0,
          clientId: `t-${randomBytes(4).toString('hex')}`,
        });
        clients.push(client);
        return client;
      };
      const phoneDevice = await connect(phone.id, await deviceToken(phone.id));
      const ts = Date.now() - 5000;
      await phoneDevice.publishAsync(
        `tacho/v1/${phone.id}/telemetry`,
        JSON.stringify({ ts, metrics: { speed_kmh: 3 } }),
        { qos: 1 },
      );
      const granted = await phoneDevice.subscribeAsync(`tacho/v1/${phone.id}/commands`, { qos: 1 });
      expect(granted[0]?.qos).toBe(1);

      const carToken = await deviceToken(car.id);
      const carByVin = await connect(testVin(4), carToken);
      await carByVin.publishAsync(
        `tacho/v1/${car.id}/telemetry`,
        JSON.stringify({ ts, metrics: { speed_kmh: 4 } }),
        { qos: 1 },
      );
      const carById = await connect(car.id, carToken);
      await carById.publishAsync(
        `tacho/v1/${testVin(4)}/telemetry`,
        JSON.stringify({ ts: ts + 1, metrics: { speed_kmh: 5 } }),
        { qos: 1 },
      );
      expect(await stored()).toEqual(
        expect.arrayContaining([
          { vehicle_id: phone.id, source: 'mqtt' },
          { vehicle_id: car.id, source: 'mqtt' },
        ]),
      );
      expect((await stored()).filter((r) => r.vehicle_id === car.id)).toHaveLength(2);

      // The phone's token with the car's id as username: refused, as a wrong VIN is.
      await expect(connect(car.id, await deviceToken(phone.id))).rejects.toThrow(/Bad username or password/i);
    });
  });
}
