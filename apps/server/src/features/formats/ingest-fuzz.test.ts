import { sql } from 'kysely';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { EXTREME_NUMBERS_JSON } from '../telemetry/extreme-numbers.js';
import { createTestVehicle, type TestVehicle } from './test-setup.js';

/**
 * Issue 24.1: extreme numbers in every field of every ingest route and topic. Each poisoned message sits
 * between two valid ones; whatever it holds, the server answers (never 500), keeps it (stored or a dead
 * letter), stores its neighbours, acknowledges it over MQTT, and keeps running.
 */

type Field = (name: string, fallback: string | number) => string;

/** A source format: a message at time `t` (whole seconds, epoch ms) with each field's JSON text from `f`. */
interface Format {
  readonly name: string;
  readonly fields: readonly string[];
  element(t: number, f: Field): string;
  /** The payload holding these messages. */
  payload(elements: readonly string[]): string;
  readonly url?: string;
  topic?(vin: string): string;
}

const iso = (t: number) => `"${new Date(t).toISOString()}"`;

const formats: readonly Format[] = [
  {
    name: 'native',
    fields: [
      'ts',
      'seq',
      'metrics.speed_kmh',
      'metrics.battery_level_pct',
      'metrics.ignition',
      'metrics.gear',
      'metrics.software_version',
      'position.lat',
      'position.lon',
      'position.alt_m',
      'position.heading_deg',
      'position.speed_kmh',
      'position.accuracy_m',
      'raw.x',
      'obd.pid',
      'obd.response',
      'dtc',
    ],
    element: (t, f) =>
      `{"ts":${f('ts', t)},"seq":${f('seq', 1)},"metrics":{"speed_kmh":${f('metrics.speed_kmh', 10)},` +
      `"battery_level_pct":${f('metrics.battery_level_pct', 50)},"ignition":${f('metrics.ignition', 'true')},` +
      `"gear":${f('metrics.gear', '"D"')},"software_version":${f('metrics.software_version', '"v1"')}},` +
      `"position":{"lat":${f('position.lat', 48.1)},"lon":${f('position.lon', 11.5)},` +
      `"alt_m":${f('position.alt_m', 500)},"heading_deg":${f('position.heading_deg', 90)},` +
      `"speed_kmh":${f('position.speed_kmh', 10)},"accuracy_m":${f('position.accuracy_m', 5)}},` +
      `"raw":{"x":${f('raw.x', 1)}},"obd":[{"pid":${f('obd.pid', '"010D"')},` +
      `"response":${f('obd.response', '"41 0D 32"')}}],"dtc":${f('dtc', '"43 01 33 00 00 00 00"')}}`,
    payload: (elements) => `[${elements.join(',')}]`,
    topic: (vin) => `tacho/v1/${vin}/telemetry`,
  },
  {
    name: 'vinfast',
    fields: ['deviceKey', 'value', 'lastUpdateTime'],
    element: (t, f) =>
      `{"deviceKey":${f('deviceKey', '"34183_00001_00009"')},"value":${f('value', '"80"')},` +
      `"lastUpdateTime":${f('lastUpdateTime', `"${t}"`)}}`,
    payload: (elements) => `[${elements.join(',')}]`,
    topic: (vin) => `/mobile/${vin}/push`,
  },
  {
    name: 'vinfast by ids',
    fields: ['objectId', 'instanceId', 'resourceId', 'value'],
    element: (t, f) =>
      `{"objectId":${f('objectId', 34183)},"instanceId":${f('instanceId', 1)},` +
      `"resourceId":${f('resourceId', 11)},"value":${f('value', 300)},"lastUpdateTime":${t}}`,
    payload: (elements) => `{"data":[${elements.join(',')}]}`,
    topic: (vin) => `/mobile/${vin}/push`,
  },
  {
    name: 'owntracks',
    fields: ['tst', 'lat', 'lon', 'vel', 'cog', 'alt', 'acc', 'vac', 'batt', 'bs'],
    element: (t, f) =>
      `{"_type":"location","tid":"ph","tst":${f('tst', t / 1000)},"lat":${f('lat', 48.1)},` +
      `"lon":${f('lon', 11.5)},"vel":${f('vel', 10)},"cog":${f('cog', 90)},"alt":${f('alt', 500)},` +
      `"acc":${f('acc', 5)},"vac":${f('vac', 3)},"batt":${f('batt', 80)},"bs":${f('bs', 1)}}`,
    payload: (elements) => `[${elements.join(',')}]`,
    topic: (vin) => `owntracks/${vin}/phone`,
  },
  {
    name: 'owntracks lwt',
    fields: ['tst'],
    element: (t, f) => `{"_type":"lwt","tst":${f('tst', t / 1000)}}`,
    payload: (elements) => `[${elements.join(',')}]`,
    topic: (vin) => `owntracks/${vin}/phone`,
  },
  {
    name: 'overland',
    fields: [
      'lon',
      'lat',
      'timestamp',
      'speed',
      'course',
      'altitude',
      'horizontal_accuracy',
      'vertical_accuracy',
      'battery_level',
    ],
    element: (t, f) =>
      `{"type":"Feature","geometry":{"type":"Point","coordinates":[${f('lon', 11.5)},${f('lat', 48.1)}]},` +
      `"properties":{"timestamp":${f('timestamp', iso(t))},"speed":${f('speed', 3)},` +
      `"course":${f('course', 90)},"altitude":${f('altitude', 500)},` +
      `"horizontal_accuracy":${f('horizontal_accuracy', 5)},"vertical_accuracy":${f('vertical_accuracy', 3)},` +
      `"battery_level":${f('battery_level', 0.8)},"battery_state":"unplugged"}}`,
    payload: (elements) => `{"locations":[${elements.join(',')}]}`,
    url: '/api/v1/ingest/overland',
  },
  {
    name: 'overland visit',
    fields: ['timestamp', 'arrival_date', 'horizontal_accuracy'],
    element: (t, f) =>
      `{"type":"Feature","geometry":{"type":"Point","coordinates":[11.5,48.1]},"properties":` +
      `{"type":"visit","timestamp":${f('timestamp', iso(t))},"arrival_date":${f('arrival_date', iso(t))},` +
      `"horizontal_accuracy":${f('horizontal_accuracy', 5)}}}`,
    payload: (elements) => `{"locations":[${elements.join(',')}]}`,
    url: '/api/v1/ingest/overland',
  },
  {
    name: 'osmand json',
    fields: [
      'timestamp',
      'latitude',
      'longitude',
      'speed',
      'heading',
      'accuracy',
      'altitude',
      'battery.level',
      'odometer',
    ],
    element: (t, f) =>
      `{"timestamp":${f('timestamp', iso(t))},"coords":{"latitude":${f('latitude', 48.1)},` +
      `"longitude":${f('longitude', 11.5)},"speed":${f('speed', 3)},"heading":${f('heading', 90)},` +
      `"accuracy":${f('accuracy', 5)},"altitude":${f('altitude', 500)}},` +
      `"battery":{"level":${f('battery.level', 0.8)},"is_charging":false},"odometer":${f('odometer', 100)},` +
      `"is_moving":true}`,
    payload: (elements) => `{"device_id":"fuzz-phone-0001","location":[${elements.join(',')}]}`,
    url: '/api/v1/ingest/osmand',
  },
];

/** Traccar Client's form fields (one message per request), with the extreme value as form text. */
const OSMAND_FORM_FIELDS = [
  'lat',
  'lon',
  'timestamp',
  'speed',
  'bearing',
  'altitude',
  'accuracy',
  'batt',
  'hdop',
];

const keep: Field = (_name, fallback) => String(fallback);
const poison =
  (field: string, value: string): Field =>
  (name, fallback) =>
    name === field ? value : String(fallback);

for (const engine of engines) {
  describe(`extreme numbers in every field of every ingest route and topic [${engine}]`, () => {
    let app: TestApp;
    let car: TestVehicle;
    /** Device times, whole seconds, one set per message sent; neighbours must all be stored. */
    let nextTs = Math.floor(Date.now() / 1000) * 1000 - 20 * 86_400_000;
    const neighbours: number[] = [];
    const times = () => {
      const t = nextTs;
      nextTs += 3000;
      return [t, t + 1000, t + 2000] as const;
    };

    beforeAll(async () => {
      app = await createTestApp(engine, {}, { mqttPort: 0 });
      car = await createTestVehicle(app, { make: 'VinFast', model: 'VF 9', year: 2024 });
    });
    afterAll(async () => {
      await app?.dispose();
    });

    /** Samples and dead letters so far: a message is kept when one of them grew. */
    async function kept(): Promise<number> {
      const { rows } = await sql<{ n: number | string }>`
        select (select count(*) from samples) + (select count(*) from dead_letters) as n`.execute(
        app.storage.db,
      );
      return Number(rows[0]!.n);
    }

    async function expectNeighboursStored(): Promise<void> {
      const rows = await app.storage.db.selectFrom('samples').select('ts_ms').execute();
      const stored = new Set(rows.map((r) => Number(r.ts_ms)));
      expect(neighbours.filter((t) => !stored.has(t))).toEqual([]);
      expect((await app.http.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    }

    it('HTTP: every route answers each batch without a 500, stores the neighbours, keeps the poisoned one', async () => {
      const problems: string[] = [];
      for (const format of formats) {
        const url = format.url ?? (format.topic ? httpUrlOf(format.name, car.vin) : '');
        for (const field of format.fields) {
          for (const value of EXTREME_NUMBERS_JSON) {
            const [a, b, c] = times();
            const body = format.payload([
              format.element(a, keep),
              format.element(b, poison(field, value)),
              format.element(c, keep),
            ]);
            const before = await kept();
            const res = await app.http.inject({
              method: 'POST',
              url,
              headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
              payload: body,
            });
            const grew = (await kept()) - before;
            if (res.statusCode !== 200 || grew < 3) {
              problems.push(`${format.name} ${field}=${value}: ${res.statusCode} ${res.body}, kept ${grew}`);
            }
            neighbours.push(a, c);
          }
        }
      }
      expect(problems).toEqual([]);
      await expectNeighboursStored();
    }, 600_000);

    it('HTTP: a Traccar form with an extreme value in any field is answered (never 500) and kept', async () => {
      const problems: string[] = [];
      const form = (t: number, field?: string, value?: string) => {
        const fields: Record<string, string> = {
          id: 'fuzz-form-0001',
          lat: '48.1',
          lon: '11.5',
          timestamp: String(t / 1000),
          speed: '3',
          bearing: '90',
          altitude: '500',
          accuracy: '5',
          batt: '80',
          hdop: '1.2',
        };
        if (field) fields[field] = value!.replace(/^"|"$/g, '');
        return new URLSearchParams(fields).toString();
      };
      const post = (payload: string) =>
        app.http.inject({
          method: 'POST',
          url: '/api/v1/ingest/osmand',
          headers: {
            authorization: `Bearer ${car.token}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload,
        });
      for (const field of OSMAND_FORM_FIELDS) {
        for (const value of EXTREME_NUMBERS_JSON) {
          const [a, b, c] = times();
          expect((await post(form(a))).statusCode).toBe(200);
          const before = await kept();
          const res = await post(form(b, field, value));
          const grew = (await kept()) - before;
          if (res.statusCode >= 500 || grew < 1) {
            problems.push(`osmand form ${field}=${value}: ${res.statusCode} ${res.body}, kept ${grew}`);
          }
          expect((await post(form(c))).statusCode).toBe(200);
          neighbours.push(a, c);
        }
      }
      expect(problems).toEqual([]);
      await expectNeighboursStored();
    }, 600_000);

    it('MQTT: every topic acknowledges each poisoned message once kept, and stores the next valid one', async () => {
      const client: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.broker!.port}`, {
        username: car.vin,
        password: car.token,
        clientId: `fuzz-${engine}`,
        // A persistent session, as devices have: an unacknowledged message would come again forever.
        clean: false,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
      const problems: string[] = [];
      try {
        for (const format of formats.filter((f) => f.topic)) {
          const topic = format.topic!(car.vin);
          for (const field of format.fields) {
            for (const value of EXTREME_NUMBERS_JSON) {
              const [a, b] = times();
              const before = await kept();
              // Resolves on the PUBACK, which leaves only once the message is committed.
              await acked(client, topic, format.payload([format.element(a, poison(field, value))]));
              await acked(client, topic, format.payload([format.element(b, keep)]));
              const grew = (await kept()) - before;
              if (grew < 2) problems.push(`${format.name} ${field}=${value}: kept ${grew}`);
              neighbours.push(b);
            }
          }
        }
      } finally {
        await client.endAsync(true);
      }
      expect(problems).toEqual([]);
      await expectNeighboursStored();
    }, 600_000);
  });
}

/** Publishes at QoS 1 and waits for the PUBACK; fails at once if the server closes the connection. */
function acked(client: MqttClient, topic: string, payload: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error(`connection closed before the PUBACK of ${payload.slice(0, 200)}`));
    client.once('close', closed);
    client.publishAsync(topic, payload, { qos: 1 }).then(
      (packet) => {
        client.off('close', closed);
        resolve(packet);
      },
      (error: unknown) => {
        client.off('close', closed);
        reject(error);
      },
    );
  });
}

/** The HTTP route of a format that also has a topic. */
function httpUrlOf(name: string, vin: string): string {
  if (name === 'native') return `/api/v1/vehicles/${vin}/telemetry`;
  if (name.startsWith('vinfast')) return `/api/v1/ingest/vinfast/${vin}`;
  return '/api/v1/ingest/owntracks';
}
