import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { owntracksEncrypt } from './owntracks.js';
import { createTestVehicle, storedFor, type TestVehicle } from './test-setup.js';

const T = Date.UTC(2026, 0, 15, 12, 0, 0);

for (const engine of engines) {
  describe(`source-format ingest routes [${engine}]`, () => {
    let app: TestApp;
    let car: TestVehicle;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    beforeEach(async () => {
      app = await createTestApp(engine);
      car = await createTestVehicle(app, { make: 'VinFast', model: 'VF 9', year: 2024 });
    });
    afterEach(async () => {
      await app.dispose();
    });

    it('VinFast: maps with the VF9 table, keeps every key raw with its meaning, replies after commit', async () => {
      const records = [
        { deviceKey: '34183_00001_00009', value: '80', lastUpdateTime: String(T) },
        { deviceKey: '34183_00001_00058', value: '1', lastUpdateTime: String(T) },
        { deviceKey: '34183_00001_00010', value: '0', lastUpdateTime: String(T) },
        { deviceKey: '12345_00001_00001', value: 'mystery', lastUpdateTime: String(T) },
        { deviceKey: '34183_00001_00011', value: '9999', lastUpdateTime: String(T + 1000) },
      ];
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/ingest/vinfast/${car.vin}`,
        headers: bearer(car.token),
        payload: records,
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({
        stored: 2,
        duplicates: 0,
        rejected: 1,
        errors: ['vinfast: 34183_00001_00011 → range_km: 9999 is above the plausible maximum 2000'],
      });
      const db = await storedFor(app, car.id);
      expect(db.state).toMatchObject({ battery_level_pct: 80, ignition: true });
      expect(db.raw['34183_00001_00009']).toEqual({ value: 80, canonical: 'battery_level_pct', unit: '%' });
      expect(db.raw['12345_00001_00001']).toEqual({ value: 'mystery', canonical: null, unit: null });
      expect(db.raw['34183_00001_00011']?.value).toBe(9999);
      expect(db.deadLetters).toContain(
        'vinfast: 34183_00001_00011 → range_km: 9999 is above the plausible maximum 2000',
      );

      const again = await app.http.inject({
        method: 'POST',
        url: `/api/v1/ingest/vinfast/${car.vin}`,
        headers: bearer(car.token),
        payload: records,
      });
      expect(again.json()).toMatchObject({ stored: 0, duplicates: 2 });
    });

    it('VinFast: another vehicle’s token is refused, an unknown VIN is 404', async () => {
      const other = await createTestVehicle(app, { make: 'VinFast' });
      const payload = [{ deviceKey: '34183_00001_00009', value: '1', lastUpdateTime: String(T) }];
      const url = `/api/v1/ingest/vinfast/${car.vin}`;
      expect(
        (await app.http.inject({ method: 'POST', url, headers: bearer(other.token), payload })).statusCode,
      ).toBe(404);
      expect((await app.http.inject({ method: 'POST', url, payload })).statusCode).toBe(401);
      // The owner may publish with their own token.
      expect(
        (await app.http.inject({ method: 'POST', url, headers: car.owner.headers, payload })).statusCode,
      ).toBe(200);
    });

    it('OwnTracks: Basic auth with the vehicle token, encrypted payload opened with the bound secret, reply []', async () => {
      const bind = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.id}/devices`,
        headers: car.owner.headers,
        payload: { kind: 'owntracks', deviceId: 'anna/phone', secret: 'correct horse' },
      });
      expect(bind.statusCode, bind.body).toBe(201);
      expect(bind.json()).toMatchObject({ kind: 'owntracks', deviceId: 'anna/phone', encrypted: true });

      const location = { _type: 'location', lat: 52.5, lon: 13.4, tst: T / 1000, vel: 30, batt: 64, acc: 5 };
      const data = owntracksEncrypt(JSON.stringify(location), 'correct horse');
      const basic = `Basic ${Buffer.from(`anna:${car.token}`).toString('base64')}`;
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/owntracks',
        headers: { authorization: basic, 'x-limit-u': 'anna', 'x-limit-d': 'phone' },
        payload: [
          { _type: 'encrypted', data },
          { _type: 'lwt', tst: T / 1000 + 5 },
        ],
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).toBe('[]');
      const db = await storedFor(app, car.id);
      expect(db.samples.find((s) => s.lat !== null)).toMatchObject({
        ts_ms: T,
        lat: 52.5,
        lon: 13.4,
        speed_kmh: 30,
      });
      expect(db.state).toMatchObject({ device_battery_pct: 64 });
      expect(Object.keys(db.raw)).toContain('owntracks.lwt');
    });

    it('OwnTracks: a user login needs the device bound; a device bound elsewhere is refused', async () => {
      const url = '/api/v1/ingest/owntracks?u=bob&d=tab';
      const payload = { _type: 'location', lat: 1, lon: 2, tst: T / 1000 };
      expect(
        (await app.http.inject({ method: 'POST', url, headers: car.owner.headers, payload })).statusCode,
      ).toBe(404);
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.id}/devices`,
        headers: car.owner.headers,
        payload: { kind: 'owntracks', deviceId: 'bob/tab' },
      });
      expect(
        (await app.http.inject({ method: 'POST', url, headers: car.owner.headers, payload })).statusCode,
      ).toBe(200);
      const other = await createTestVehicle(app);
      expect(
        (await app.http.inject({ method: 'POST', url, headers: bearer(other.token), payload })).statusCode,
      ).toBe(403);
      const taken = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${other.id}/devices`,
        headers: other.owner.headers,
        payload: { kind: 'owntracks', deviceId: 'bob/tab' },
      });
      // Answered like a malformed name, so the refusal does not confirm that someone uses "bob/tab".
      expect(taken.statusCode).toBe(400);
      expect(taken.json().error.code).toBe('invalid_device_id');
    });

    it('OsmAnd: registered id without a token (GET query and POST form), speed in knots', async () => {
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.id}/devices`,
        headers: car.owner.headers,
        payload: { kind: 'osmand', deviceId: 'tracker-4711' },
      });
      const get = await app.http.inject({
        method: 'GET',
        url: `/api/v1/ingest/osmand?id=tracker-4711&lat=48.1&lon=11.5&timestamp=${T / 1000}&speed=10&batt=77&hdop=1.2`,
      });
      expect(get.statusCode, get.body).toBe(200);
      const post = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/osmand',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `deviceid=tracker-4711&location=48.2,11.6&timestamp=${encodeURIComponent('2026-01-15 12:00:10')}`,
      });
      expect(post.statusCode, post.body).toBe(200);
      const db = await storedFor(app, car.id);
      expect(db.samples.map((s) => [s.ts_ms, s.lat, s.lon, s.speed_kmh])).toEqual([
        [T, 48.1, 11.5, 18.52],
        [T + 10_000, 48.2, 11.6, null],
      ]);
      expect(db.raw.hdop?.value).toBe(1.2);
    });

    it('OsmAnd: 400 without id, 401 for an unknown id, token as a field or JSON mode with a bearer', async () => {
      const noId = await app.http.inject({ method: 'GET', url: '/api/v1/ingest/osmand?lat=1&lon=2' });
      expect(noId.statusCode).toBe(400);
      expect(noId.json().error.message).toBe('osmand: id is missing');
      expect(
        (await app.http.inject({ method: 'GET', url: '/api/v1/ingest/osmand?id=nobody&lat=1&lon=2' }))
          .statusCode,
      ).toBe(401);
      const viaField = await app.http.inject({
        method: 'POST',
        url: `/api/v1/ingest/osmand?id=phone&lat=1&lon=2&timestamp=${T}&token=${car.token}`,
      });
      expect(viaField.statusCode, viaField.body).toBe(200);
      const json = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/osmand',
        headers: bearer(car.token),
        payload: {
          device_id: 'phone',
          location: {
            timestamp: new Date(T + 1000).toISOString(),
            coords: { latitude: 3, longitude: 4, speed: 10, heading: -1 },
            battery: { level: 0.5, is_charging: false },
          },
        },
      });
      expect(json.statusCode, json.body).toBe(200);
      const db = await storedFor(app, car.id);
      expect(db.deadLetters).toEqual(['osmand: id is missing']);
      expect(db.samples.map((s) => [s.lat, s.speed_kmh])).toEqual([
        [1, null],
        [3, 36],
      ]);
      expect(db.state.device_battery_pct).toBe(50);
    });

    it('Overland: replies exactly {"result":"ok"} once stored, never rejects a positionless feature', async () => {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/overland',
        headers: bearer(car.token),
        payload: {
          locations: [
            {
              type: 'Feature',
              geometry: { type: 'Point', coordinates: [-122.6, 45.5] },
              properties: {
                timestamp: new Date(T).toISOString(),
                speed: 5,
                battery_level: 0.9,
                motion: ['driving'],
              },
            },
            {
              type: 'Feature',
              properties: { action: 'will_terminate', timestamp: new Date(T + 1).toISOString() },
            },
            {
              type: 'Feature',
              geometry: { type: 'Point', coordinates: ['x', 0] },
              properties: { timestamp: 'x' },
            },
          ],
        },
      });
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe('{"result":"ok"}');
      const db = await storedFor(app, car.id);
      expect(db.samples.find((s) => s.lat !== null)).toMatchObject({ ts_ms: T, speed_kmh: 18 });
      expect(db.raw['overland.will_terminate']).toBeDefined();
      expect(db.deadLetters).toEqual(['overland: properties.timestamp is not an ISO-8601 date']);
      // A user token must say which vehicle; without a token it is 401.
      expect(
        (
          await app.http.inject({
            method: 'POST',
            url: '/api/v1/ingest/overland',
            payload: { locations: [] },
          })
        ).statusCode,
      ).toBe(401);
      const asUser = await app.http.inject({
        method: 'POST',
        url: `/api/v1/ingest/overland?vehicleId=${car.id}`,
        headers: car.owner.headers,
        payload: { locations: [] },
      });
      expect(asUser.body).toBe('{"result":"ok"}');
    });

    it('device bindings: listed and removed by who manages the vehicle only', async () => {
      const url = `/api/v1/vehicles/${car.id}/devices`;
      await app.http.inject({
        method: 'POST',
        url,
        headers: car.owner.headers,
        payload: { kind: 'osmand', deviceId: 'c9e2f4a71b3d8056' },
      });
      const stranger = await createTestUser(app, 'operator');
      expect((await app.http.inject({ method: 'GET', url, headers: stranger.headers })).statusCode).toBe(404);
      const list = await app.http.inject({ method: 'GET', url, headers: car.owner.headers });
      expect(list.json()).toMatchObject([{ kind: 'osmand', deviceId: 'c9e2f4a71b3d8056', encrypted: false }]);
      const del = await app.http.inject({
        method: 'DELETE',
        url: `${url}/osmand/c9e2f4a71b3d8056`,
        headers: car.owner.headers,
      });
      expect(del.statusCode).toBe(204);
      expect((await app.http.inject({ method: 'GET', url, headers: car.owner.headers })).json()).toEqual([]);
      const bad = await app.http.inject({
        method: 'POST',
        url,
        headers: car.owner.headers,
        payload: { kind: 'owntracks', deviceId: 'no-slash' },
      });
      expect(bad.statusCode).toBe(400);
    });

    it('OBD-II: native telemetry carrying mode 01 and mode 03 responses stores decoded metrics', async () => {
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.vin}/telemetry`,
        headers: bearer(car.token),
        payload: {
          ts: T,
          obd: [
            { pid: '010D', response: '41 0D 3C' },
            { pid: '010C', response: '410C1AF8' },
            { pid: '0105', response: '41 05 7B' },
            { pid: '0110', response: 'NO DATA' },
          ],
          dtc: '43 01 33 00 00 00 00',
        },
      });
      expect(res.statusCode, res.body).toBe(200);
      const db = await storedFor(app, car.id);
      expect(db.state).toMatchObject({ speed_kmh: 60, engine_rpm: 1726, coolant_temp_c: 83 });
      expect(db.raw['obd.dtc']?.value).toBe('P0133');
      expect(db.raw['obd.VSS']?.value).toBe(60);
      expect(db.deadLetters).toEqual(['obd: response of 0110 is not hex']);
    });

    it('GET /api/v1/diagnostics/pids lists the catalog with units and attribution', async () => {
      const res = await app.http.inject({
        method: 'GET',
        url: '/api/v1/diagnostics/pids',
        headers: car.owner.headers,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.attribution).toContain('CC BY-SA 4.0');
      expect(body.pids.find((p: { id: string }) => p.id === 'RPM')).toMatchObject({
        pid: '010C',
        unit: 'rpm',
        metric: 'engine_rpm',
      });
      expect((await app.http.inject({ method: 'GET', url: '/api/v1/diagnostics/pids' })).statusCode).toBe(
        401,
      );
    });
  });
}
