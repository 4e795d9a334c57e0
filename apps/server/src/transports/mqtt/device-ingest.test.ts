import { randomBytes } from 'node:crypto';
import SQLite from 'better-sqlite3';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestUser } from '../../features/auth/testing.js';
import { createVehicleWithToken, testVin } from '../../features/telemetry/test-fixtures.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';

const clients: MqttClient[] = [];

async function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `t-${randomBytes(4).toString('hex')}`,
    ...options,
  });
  clients.push(client);
  return client;
}

/** The CONNACK refusal a login gets, or 'connected'. */
async function loginOutcome(url: string, options: IClientOptions): Promise<string> {
  try {
    await connect(url, options);
    return 'connected';
  } catch (error) {
    return (error as Error).message;
  }
}

for (const engine of engines) {
  describe(`embedded broker as device gateway [${engine}]`, () => {
    let app: TestApp;
    let car: { vehicleId: string; vin: string; token: string };
    let url: string;

    beforeEach(async () => {
      app = await createTestApp(engine, {}, { mqttPort: 0 });
      const owner = await createTestUser(app, 'operator');
      car = await createVehicleWithToken(app, owner, testVin(7));
      url = `mqtt://127.0.0.1:${app.broker!.port}`;
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      await app.dispose();
    });

    const samples = () => app.storage.db.selectFrom('samples').selectAll().execute();

    it('acknowledges a QoS 1 message only once it is stored', async () => {
      const device = await connect(url, { username: car.vin, password: car.token });
      const ts = Date.now();
      await device.publishAsync(
        `tacho/v1/${car.vin}/telemetry`,
        JSON.stringify({ ts, metrics: { battery_level_pct: 64 } }),
        { qos: 1 },
      );
      // The PUBACK has arrived: the row must already be there, with no waiting.
      expect(await samples()).toMatchObject([{ vehicle_id: car.vehicleId, ts_ms: ts, source: 'mqtt' }]);
    });

    it('holds every PUBACK of streams of QoS 1 messages until they are committed', async () => {
      const base = await app.listen();
      const tcp = await connect(url, { username: car.vin, password: car.token });
      const ws = await connect(`${base.replace(/^http/, 'ws')}/mqtt`, {
        username: car.vin,
        password: car.token,
      });
      // Another connection holds the database's write lock, as a backup or a second process might:
      // nothing can commit until it lets go.
      const lock = app.storage.file ? new SQLite(app.storage.file) : null;
      lock?.exec('begin immediate');
      const acked: number[] = [];
      const t0 = Date.now() - 10_000;
      const sends = [tcp, ws].flatMap((client, c) =>
        Array.from({ length: 100 }, (_, i) =>
          client
            .publishAsync(
              `tacho/v1/${car.vin}/telemetry`,
              JSON.stringify({ ts: t0 + c * 1000 + i, metrics: { speed_kmh: i } }),
              { qos: 1 },
            )
            .then(() => void acked.push(i)),
        ),
      );
      if (lock) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(acked).toEqual([]);
        lock.exec('rollback');
        lock.close();
      }
      await Promise.all(sends);
      expect(acked).toHaveLength(200);
      expect(await samples()).toHaveLength(200);
    });

    it('acknowledges an invalid message too, after keeping it as a dead letter', async () => {
      const device = await connect(url, { username: car.vin, password: car.token });
      await device.publishAsync(`tacho/v1/${car.vin}/telemetry`, '{"ts": "yesterday"}', { qos: 1 });
      const letters = await app.storage.db.selectFrom('dead_letters').selectAll().execute();
      expect(letters).toMatchObject([
        { source: 'mqtt', topic: `tacho/v1/${car.vin}/telemetry`, vehicle_id: car.vehicleId },
      ]);
      expect(letters[0]?.reason).toMatch(/^ts:/);
      expect(await samples()).toEqual([]);
    });

    it('refuses anonymous clients, wrong tokens and wildcard identities', async () => {
      expect(await loginOutcome(url, {})).toMatch(/Bad username or password/i);
      expect(await loginOutcome(url, { username: car.vin, password: 'tacho_wrong' })).toMatch(
        /Bad username or password/i,
      );
      expect(await loginOutcome(url, { username: testVin(8), password: car.token })).toMatch(
        /Bad username or password/i,
      );
      expect(await loginOutcome(url, { username: '+', password: car.token })).toMatch(
        /Bad username or password/i,
      );
      expect(
        await loginOutcome(url, { username: car.vin, password: car.token, clientId: 'device/#' }),
      ).toMatch(/Identifier rejected/i);
      expect(await loginOutcome(url, { username: car.vin, password: car.token })).toBe('connected');
    });

    it('lets a device publish only to its own topics and subscribe only to its own commands', async () => {
      const device = await connect(url, { username: car.vin, password: car.token });
      const own = await device.subscribeAsync(`tacho/v1/${car.vin}/commands`, { qos: 1 });
      expect(own.map((g) => g.qos)).toEqual([1]);
      // mqtt.js rejects a SUBACK holding a failure code; the packet says which were refused.
      const refused = await device.subscribeAsync([`tacho/v1/${testVin(8)}/commands`, '#'], { qos: 1 }).then(
        () => [],
        (error: { packet?: { granted: number[] } }) => error.packet?.granted ?? [],
      );
      expect(refused).toEqual([128, 128]);

      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      device.publish(
        `tacho/v1/${testVin(8)}/telemetry`,
        JSON.stringify({ ts: Date.now(), metrics: { speed_kmh: 1 } }),
        {
          qos: 1,
        },
      );
      // A refused publish has no NACK in MQTT 3.1.1: the broker drops the connection.
      await closed;
      expect(await samples()).toEqual([]);
    });

    it('serves MQTT over WebSocket at /mqtt on the HTTP port', async () => {
      const base = await app.listen();
      const device = await connect(`${base.replace(/^http/, 'ws')}/mqtt`, {
        username: car.vin,
        password: car.token,
      });
      await device.publishAsync(
        `tacho/v1/${car.vin}/telemetry`,
        JSON.stringify([
          { ts: Date.now(), seq: 1, metrics: { speed_kmh: 12 } },
          { ts: Date.now(), seq: 2, metrics: { speed_kmh: 13 } },
        ]),
        { qos: 1 },
      );
      expect(await samples()).toHaveLength(2);
    });
  });
}
