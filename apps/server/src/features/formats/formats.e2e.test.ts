import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { simulate } from '../../../../cli/src/simulate.js';
import { createSimVehicles } from '../../../../cli/src/simulate-targets.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { owntracksEncrypt } from './owntracks.js';
import { createTestVehicle, storedFor, type TestVehicle } from './test-setup.js';

/**
 * Each source format once through a real client: Mosquitto's `mosquitto_pub` (Debian mosquitto-clients)
 * for MQTT, Node's fetch for HTTP, against a listening server.
 */
const run = promisify(execFile);
const T = Date.UTC(2026, 0, 15, 12, 0, 0);

/** Publishes with QoS 1: mosquitto_pub exits once the PUBACK arrived, which Tacho sends after commit. */
async function mosquittoPub(port: number, vin: string, token: string, topic: string, message: string) {
  await run(
    'mosquitto_pub',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-i',
      `e2e-${vin}-${Date.now()}`,
      '-u',
      vin,
      '-P',
      token,
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      message,
    ],
    { timeout: 10_000 },
  ).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      throw new Error('mosquitto_pub is missing: apt-get install -y mosquitto-clients');
    throw error;
  });
}

for (const engine of engines) {
  describe(`source formats through real clients [${engine}]`, () => {
    let app: TestApp;
    let base: string;
    let car: TestVehicle;

    beforeEach(async () => {
      app = await createTestApp(engine, {}, { mqttPort: 0 });
      base = await app.listen();
      car = await createTestVehicle(app, { make: 'VinFast', model: 'VF8', year: 2024 });
    });
    afterEach(async () => {
      await app.dispose();
    });

    it('VinFast over MQTT (/mobile/<VIN>/push) and over HTTP', async () => {
      const port = app.broker!.port!;
      const push = [
        { deviceKey: '34183_00001_00009', value: '71', lastUpdateTime: String(T) },
        { deviceKey: '34183_00001_00002', value: '0', lastUpdateTime: String(T) },
      ];
      await mosquittoPub(port, car.vin, car.token, `/mobile/${car.vin}/push`, JSON.stringify(push));
      expect((await storedFor(app, car.id)).state).toMatchObject({ battery_level_pct: 71, speed_kmh: 0 });

      const res = await fetch(`${base}/api/v1/ingest/vinfast/${car.vin}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
        body: JSON.stringify([
          { deviceKey: '34183_00001_00009', value: '70', lastUpdateTime: String(T + 60_000) },
        ]),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ stored: 1, duplicates: 0 });
      expect((await storedFor(app, car.id)).state.battery_level_pct).toBe(70);
    });

    it('OwnTracks over MQTT (owntracks/<VIN>/<device>, encrypted) and over HTTP', async () => {
      await fetch(`${base}/api/v1/vehicles/${car.id}/devices`, {
        method: 'POST',
        headers: { ...car.owner.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'owntracks', deviceId: `${car.vin}/phone`, secret: 'sesame' }),
      });
      const location = { _type: 'location', lat: 10.5, lon: 106.7, tst: T / 1000, vel: 12, batt: 50 };
      const sealed = { _type: 'encrypted', data: owntracksEncrypt(JSON.stringify(location), 'sesame') };
      await mosquittoPub(
        app.broker!.port!,
        car.vin,
        car.token,
        `owntracks/${car.vin}/phone`,
        JSON.stringify(sealed),
      );
      await mosquittoPub(
        app.broker!.port!,
        car.vin,
        car.token,
        `owntracks/${car.vin}/phone/event`,
        JSON.stringify({
          _type: 'transition',
          event: 'leave',
          desc: 'home',
          tst: T / 1000 + 1,
          lat: 10.5,
          lon: 106.7,
          acc: 5,
          wtst: 1,
        }),
      );
      let db = await storedFor(app, car.id);
      expect(db.samples.find((s) => s.lat !== null)).toMatchObject({ lat: 10.5, lon: 106.7, speed_kmh: 12 });
      expect(JSON.parse(db.raw['owntracks.transition']!.value as string)).toMatchObject({
        event: 'leave',
        desc: 'home',
      });

      const res = await fetch(`${base}/api/v1/ingest/owntracks?u=${car.vin}&d=phone`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${car.vin}:${car.token}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ ...location, tst: T / 1000 + 60, lat: 10.6 }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
      db = await storedFor(app, car.id);
      expect(db.samples.filter((s) => s.lat !== null).map((s) => s.lat)).toEqual([10.5, 10.6]);
    });

    it('Traccar Client / OsmAnd over HTTP with a registered id', async () => {
      await fetch(`${base}/api/v1/vehicles/${car.id}/devices`, {
        method: 'POST',
        headers: { ...car.owner.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'osmand', deviceId: '5f0c2a9e7b1d4e83' }),
      });
      // Traccar Client's request: a POST with the fields in the query string and an empty body.
      const res = await fetch(
        `${base}/api/v1/ingest/osmand?id=5f0c2a9e7b1d4e83&timestamp=${T / 1000}&lat=21.03&lon=105.85&speed=5.4&bearing=90&altitude=12&accuracy=8&batt=88`,
        { method: 'POST' },
      );
      expect(res.status).toBe(200);
      const db = await storedFor(app, car.id);
      expect(db.samples).toMatchObject([
        { ts_ms: T, lat: 21.03, lon: 105.85, speed_kmh: 10.001, heading_deg: 90 },
      ]);
      expect((await fetch(`${base}/api/v1/ingest/osmand?lat=1&lon=2`)).status).toBe(400);
    });

    it('OBD-II: the simulator in OBD mode publishes real mode 01 responses that land as metrics', async () => {
      const admin = await createTestUser(app, 'admin');
      const vehicles = await createSimVehicles(base, admin.token, 1);
      const stats = await simulate({
        vehicles,
        url: `mqtt://127.0.0.1:${app.broker!.port}`,
        rateHz: 10,
        durationS: 1,
        obd: true,
      });
      expect(stats.failed).toBe(0);
      expect(stats.acknowledged).toBeGreaterThan(0);
      const id = (
        await app.storage.db
          .selectFrom('vehicles')
          .select('id')
          .where('vin', '=', vehicles[0]!.vin)
          .executeTakeFirstOrThrow()
      ).id;
      const db = await storedFor(app, id);
      // The first simulated vehicle drives: its speed arrives as PID 010D and is decoded back to speed_kmh.
      expect(typeof db.raw['obd.VSS']?.value).toBe('number');
      expect(db.state.speed_kmh).toBe(db.raw['obd.VSS']?.value);
      expect(db.deadLetters).toEqual([]);
    });

    it('Overland over HTTP: the reply is exactly {"result":"ok"}', async () => {
      const res = await fetch(`${base}/api/v1/ingest/overland`, {
        method: 'POST',
        headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          locations: [
            {
              type: 'Feature',
              geometry: { type: 'Point', coordinates: [105.85, 21.03] },
              properties: { timestamp: '2026-01-15T05:00:00-0700', speed: 10, horizontal_accuracy: 5 },
            },
          ],
        }),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('{"result":"ok"}');
      expect((await storedFor(app, car.id)).samples).toMatchObject([
        { ts_ms: T, speed_kmh: 36, accuracy_m: 5 },
      ]);
    });
  });
}
