import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { createTestVehicle, storedFor, type TestVehicle } from '../formats/test-setup.js';

/** Issue 24.15: one size limit per message whatever the transport; bodies over theirs are kept; 415. */
const MESSAGE_BYTES = 8192;
const BODY_BYTES = 8 * MESSAGE_BYTES;

for (const engine of engines) {
  describe(`ingest size limits and media types [${engine}]`, () => {
    let app: TestApp;
    let car: TestVehicle;
    const t0 = Date.now() - 3_600_000;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    /** A valid native message, padded with white space to `bytes` when asked. */
    const message = (i: number, bytes = 0) => {
      const text = `{"ts":${t0 + i * 1000},"seq":${i},"metrics":{"speed_kmh":${i % 100}}}`;
      return bytes > text.length ? `{${' '.repeat(bytes - text.length)}${text.slice(1)}` : text;
    };
    const letters = () =>
      app.storage.db
        .selectFrom('dead_letters')
        .select(['source', 'vehicle_id', 'reason', 'payload'])
        .orderBy('id')
        .execute();

    beforeEach(async () => {
      app = await createTestApp(engine, { TACHO_MAX_PAYLOAD_BYTES: String(MESSAGE_BYTES) }, { mqttPort: 0 });
      car = await createTestVehicle(app, { make: 'VinFast', model: 'VF 9', year: 2024 });
    });
    afterEach(async () => {
      await app.dispose();
    });

    it('a body over its limit is answered 413 and its beginning kept, for a caller who may publish there', async () => {
      const body = `[${Array.from({ length: 1000 }, (_, i) => message(i, 80)).join(',')}]`;
      expect(body.length).toBeGreaterThan(BODY_BYTES);
      const routes = [
        { url: `/api/v1/vehicles/${car.vin}/telemetry`, source: 'http' },
        { url: `/api/v1/ingest/vinfast/${car.vin}`, source: 'vinfast' },
        { url: '/api/v1/ingest/owntracks', source: 'owntracks' },
        { url: '/api/v1/ingest/overland', source: 'overland' },
        { url: '/api/v1/ingest/osmand', source: 'osmand' },
      ];
      for (const { url } of routes) {
        const res = await app.http.inject({
          method: 'POST',
          url,
          headers: { ...bearer(car.token), 'content-type': 'application/json' },
          payload: body,
        });
        expect(res.statusCode, url).toBe(413);
        expect(res.json(), url).toEqual({
          error: {
            code: 'payload_too_large',
            message: `body is ${body.length} bytes, the limit is ${BODY_BYTES}`,
          },
        });
      }
      expect(await letters()).toEqual(
        routes.map(({ source }) => ({
          source,
          vehicle_id: car.id,
          reason: `body is ${body.length} bytes, the limit is ${BODY_BYTES}`,
          payload: body.slice(0, 2048),
        })),
      );
    });

    it('a body over its limit from a caller who may not publish there is refused and not kept', async () => {
      const body = 'x'.repeat(BODY_BYTES + 1);
      const other = await createTestVehicle(app);
      const stranger = await createTestUser(app, 'operator');
      const attempts = [
        { url: `/api/v1/vehicles/${car.vin}/telemetry`, headers: {}, status: 401 },
        { url: `/api/v1/vehicles/${car.vin}/telemetry`, headers: bearer(other.token), status: 404 },
        { url: `/api/v1/vehicles/${car.vin}/telemetry`, headers: stranger.headers, status: 404 },
        { url: `/api/v1/ingest/vinfast/${car.vin}`, headers: bearer(other.token), status: 404 },
        { url: '/api/v1/ingest/overland', headers: {}, status: 401 },
        { url: '/api/v1/ingest/osmand?id=nobody-knows-this-id', headers: {}, status: 401 },
      ];
      for (const { url, headers, status } of attempts) {
        const res = await app.http.inject({
          method: 'POST',
          url,
          headers: { ...headers, 'content-type': 'application/json' },
          payload: body,
        });
        expect(res.statusCode, url).toBe(status);
      }
      expect(await letters()).toEqual([]);
    });

    it('one limit per message: an HTTP message over it is refused as over MQTT, its neighbours stored', async () => {
      const big = message(1, MESSAGE_BYTES + 1);
      const record = `{"deviceKey":"34183_00001_00009","value":"80","lastUpdateTime":"${t0}"}`;
      const push = `[${' '.repeat(MESSAGE_BYTES)}${record}]`;
      // A single message over the limit, as the whole body.
      const single = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.vin}/telemetry`,
        headers: { ...bearer(car.token), 'content-type': 'application/json' },
        payload: big,
      });
      expect(single.statusCode).toBe(400);
      expect(single.json().error.code).toBe('too_large');
      // Among others in a batch (the general path), and in a batch the fast path would take otherwise.
      for (const count of [3, 150]) {
        const batch = Array.from({ length: count }, (_, i) => message(count * 10 + i));
        batch[1] = message(count * 10 + 1, MESSAGE_BYTES + 1);
        const res = await app.http.inject({
          method: 'POST',
          url: `/api/v1/vehicles/${car.vin}/telemetry`,
          headers: { ...bearer(car.token), 'content-type': 'application/json' },
          payload: `[${batch.join(',')}]`,
        });
        expect(res.json(), `${count}`).toEqual({
          stored: count - 1,
          duplicates: 0,
          rejected: 1,
          errors: [
            { index: 1, reason: `message 1 is ${MESSAGE_BYTES + 1} bytes, the limit is ${MESSAGE_BYTES}` },
          ],
        });
      }
      // Over MQTT, the same message, whatever the topic family.
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.broker!.port}`, {
        username: car.vin,
        password: car.token,
        reconnectPeriod: 0,
      });
      try {
        await client.publishAsync(`tacho/v1/${car.vin}/telemetry`, big, { qos: 1 });
        await client.publishAsync(`/mobile/${car.vin}/push`, push, { qos: 1 });
      } finally {
        await client.endAsync(true);
      }
      // A source format's message over the limit among others (Overland's locations).
      const feature = (i: number, pad = 0) =>
        `{"type":"Feature","geometry":{"type":"Point","coordinates":[11.5,48.1]},${' '.repeat(pad)}` +
        `"properties":{"timestamp":"${new Date(t0 + 500_000 + i * 1000).toISOString()}"}}`;
      const overland = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/overland',
        headers: { ...bearer(car.token), 'content-type': 'application/json' },
        payload: `{"locations":[${feature(0)},${feature(1, MESSAGE_BYTES)},${feature(2)}]}`,
      });
      expect(overland.body).toBe('{"result":"ok"}');

      const db = await storedFor(app, car.id);
      expect(db.samples).toHaveLength(2 + 149 + 2);
      expect(db.deadLetters).toEqual([
        `message 0 is ${MESSAGE_BYTES + 1} bytes, the limit is ${MESSAGE_BYTES}`,
        `message 1 is ${MESSAGE_BYTES + 1} bytes, the limit is ${MESSAGE_BYTES}`,
        `message 1 is ${MESSAGE_BYTES + 1} bytes, the limit is ${MESSAGE_BYTES}`,
        `payload is ${MESSAGE_BYTES + 1} bytes, the limit is ${MESSAGE_BYTES}`,
        `payload is ${push.length} bytes, the limit is ${MESSAGE_BYTES}`,
        `overland: message 1 is ${feature(1, MESSAGE_BYTES).length} bytes, the limit is ${MESSAGE_BYTES}`,
      ]);
    });

    it('text/plain on a JSON ingest route is 415 with the error shape; Traccar forms and queries still work', async () => {
      for (const url of [
        `/api/v1/vehicles/${car.vin}/telemetry`,
        `/api/v1/ingest/vinfast/${car.vin}`,
        '/api/v1/ingest/owntracks',
        '/api/v1/ingest/overland',
        '/api/v1/ingest/osmand',
      ]) {
        const res = await app.http.inject({
          method: 'POST',
          url,
          headers: { ...bearer(car.token), 'content-type': 'text/plain' },
          payload: message(1),
        });
        expect(res.statusCode, url).toBe(415);
        expect(res.json().error.code, url).toBe('unsupported_media_type');
      }
      const query = `id=traccar-phone-0042&lat=48.1&lon=11.5&timestamp=${(t0 + 7000) / 1000}`;
      const asQuery = await app.http.inject({
        method: 'POST',
        url: `/api/v1/ingest/osmand?${query}`,
        headers: bearer(car.token),
      });
      expect(asQuery.statusCode).toBe(200);
      const asForm = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/osmand',
        headers: { ...bearer(car.token), 'content-type': 'application/x-www-form-urlencoded' },
        payload: query.replace(String((t0 + 7000) / 1000), String((t0 + 8000) / 1000)),
      });
      expect(asForm.statusCode).toBe(200);
      expect((await storedFor(app, car.id)).samples).toHaveLength(2);
    });
  });
}

for (const engine of engines) {
  describe(`dead letters of JSON nested deeper than the stack [${engine}]`, () => {
    let app: TestApp;
    let car: TestVehicle;

    beforeEach(async () => {
      app = await createTestApp(engine, {}, { mqttPort: 0 });
      car = await createTestVehicle(app, { make: 'VinFast', model: 'VF 9', year: 2024 });
    });
    afterEach(async () => {
      await app.dispose();
    });

    it('keep the payload text, truncated, over HTTP and MQTT, native and VinFast', async () => {
      const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const post = (url: string) =>
        app.http.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
          payload: deep,
        });
      expect((await post(`/api/v1/vehicles/${car.vin}/telemetry`)).statusCode).toBe(400);
      expect((await post(`/api/v1/ingest/vinfast/${car.vin}`)).statusCode).toBe(200);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.broker!.port}`, {
        username: car.vin,
        password: car.token,
        reconnectPeriod: 0,
      });
      try {
        await client.publishAsync(`tacho/v1/${car.vin}/telemetry`, deep, { qos: 1 });
        await client.publishAsync(`/mobile/${car.vin}/push`, deep, { qos: 1 });
      } finally {
        await client.endAsync(true);
      }
      const letters = await app.storage.db
        .selectFrom('dead_letters')
        .select(['source', 'payload'])
        .orderBy('id')
        .execute();
      expect(letters).toEqual(
        ['http', 'vinfast', 'mqtt', 'vinfast'].map((source) => ({ source, payload: '['.repeat(2048) })),
      );
    });
  });
}
