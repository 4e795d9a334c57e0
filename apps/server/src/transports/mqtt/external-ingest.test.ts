import { randomBytes, randomInt } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { createTestUser } from '../../features/auth/testing.js';
import { DeviceTopics } from '../../features/telemetry/index.js';
import { createVehicleWithToken, testVin } from '../../features/telemetry/test-fixtures.js';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines, freshStorage } from '../../test/storage.js';
import { startExternalIngest, topicMatches } from './external-ingest.js';

const BROKER = process.env.TACHO_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

async function probeBroker(): Promise<string | null> {
  try {
    const c = await mqtt.connectAsync(BROKER, { reconnectPeriod: 0, connectTimeout: 2000 });
    await c.endAsync();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
const brokerProblem = await probeBroker();
if (brokerProblem && process.env.CI === 'true') {
  throw new Error(`Mosquitto at ${BROKER} is required under CI but unreachable: ${brokerProblem}`);
}
if (brokerProblem) console.warn(`[tests] skipping external broker runs: ${BROKER} (${brokerProblem})`);

/** Ends a persistent session at the broker so it does not keep taking a share of later tests' messages. */
async function dropSession(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(BROKER, {
    clientId,
    clean: true,
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  await c.endAsync();
}

/** Polls until `check` holds or the time is up (then fails with what was last seen). */
export async function waitFor<T>(
  read: () => Promise<T>,
  check: (v: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(brokerProblem !== null)('external broker flow control', () => {
  it('takes no more unacknowledged messages than its receive maximum while commits stall', async () => {
    const clientId = `tacho-test-${randomBytes(4).toString('hex')}`;
    const vin = testVin(randomInt(100_000, 999_999));
    const handled: Array<() => void> = [];
    const topics = new DeviceTopics();
    topics.add({
      name: 'native',
      matches: () => true,
      // A database that does not commit: nothing is acknowledged until the test lets it.
      handle: () => new Promise<void>((resolve) => handled.push(resolve)),
      external: { filter: 'tacho/v1/+/telemetry', vinOf: () => vin },
    });
    const ingest = await startExternalIngest({
      url: BROKER,
      clientId,
      shareGroup: clientId,
      topics,
      vehicleIdByVin: async () => 'vehicle',
      rejectUnknown: async () => {},
      logger: createLogger('silent'),
      receiveMaximum: 20,
    });
    const pub = await mqtt.connectAsync(BROKER, { clientId: `pub-${clientId}`, reconnectPeriod: 0 });
    try {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          pub.publishAsync(`tacho/v1/${vin}/telemetry`, JSON.stringify({ ts: i }), { qos: 1 }),
        ),
      );
      await waitFor(
        async () => handled.length,
        (n) => n >= 20,
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(handled.length).toBe(20);
      // Some committed: the broker may send as many more. (Mosquitto 2.0.11 sends everything it holds
      // once acknowledgements come in; the subscriber still takes no more than it may hold.)
      for (const commit of handled.slice(0, 5)) commit();
      await new Promise((r) => setTimeout(r, 500));
      expect(handled.length).toBeGreaterThanOrEqual(25);
      expect(handled.length).toBeLessThanOrEqual(5 + 20 + 1);
      // Committing lets the broker send the rest.
      for (let round = 0; round < 10 && handled.length < 100; round++) {
        for (const commit of handled) commit();
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const commit of handled) commit();
      expect(handled.length).toBe(100);
    } finally {
      await pub.endAsync(true);
      await ingest.close();
      await dropSession(clientId);
    }
  });
});

describe.skipIf(brokerProblem !== null)('external broker session from an earlier run', () => {
  /** A subscriber on a topic family of the test's own that counts each message it is handed. */
  async function counting(clientId: string, prefix: string, shareGroup: string | undefined) {
    const handled: string[] = [];
    const topics = new DeviceTopics();
    topics.add({
      name: 'native',
      matches: () => true,
      handle: async (_vehicle, _topic, payload) => {
        handled.push(payload.toString());
      },
      external: { filter: `${prefix}/+/telemetry`, vinOf: () => 'VIN' },
    });
    const ingest = await startExternalIngest({
      url: BROKER,
      clientId,
      ...(shareGroup ? { shareGroup } : {}),
      topics,
      vehicleIdByVin: async () => 'vehicle',
      rejectUnknown: async () => {},
      logger: createLogger('silent'),
    });
    return { ingest, handled };
  }

  // 'tacho' is the group every instance used before the group was a setting; a session may still hold it.
  it.each([
    ['in the former share group', 'tacho', undefined],
    ['with a subscription of its own', undefined, 'tacho-x'],
  ])('drops the subscription a run %s left, so each message comes once', async (_, before, after) => {
    const clientId = `tacho-test-${randomBytes(4).toString('hex')}`;
    // Topics no other test or server subscribes to, so the former group has no other member.
    const prefix = `tacho-test-${randomBytes(4).toString('hex')}`;
    const earlier = await counting(clientId, prefix, before);
    await earlier.ingest.close();
    const now = await counting(clientId, prefix, after);
    const pub = await mqtt.connectAsync(BROKER, { clientId: `pub-${clientId}`, reconnectPeriod: 0 });
    try {
      for (let i = 0; i < 10; i++) await pub.publishAsync(`${prefix}/X/telemetry`, String(i), { qos: 1 });
      // The broker queues every copy of a message for this client before the next message's first copy,
      // so once the last one is in, any duplicate of the others is too.
      await pub.publishAsync(`${prefix}/X/telemetry`, 'last', { qos: 1 });
      await waitFor(
        async () => now.handled,
        (h) => h.includes('last'),
      );
      expect(now.handled.filter((m) => m !== 'last').sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => String(i)),
      );
    } finally {
      await pub.endAsync(true);
      await now.ingest.close();
      await dropSession(clientId);
    }
  });
});

describe('external broker session taken over', () => {
  it('says in the log that another client with its client id took the session', async () => {
    // A broker of a few bytes that does what Mosquitto >= 2.0.15 and EMQX do when a second connection
    // comes with the same client id: DISCONNECT with reason 0x8E (session taken over) to the first one.
    const server = createServer((socket) => {
      socket.on('data', (data) => {
        const type = data[0]! >> 4;
        if (type === 1) socket.write(Buffer.from([0x20, 3, 0, 0, 0])); // CONNACK, success, no properties
        if (type === 8) {
          // SUBACK for the SUBSCRIBE's packet id (after a one-byte remaining length here), then DISCONNECT.
          socket.write(Buffer.from([0x90, 4, data[2]!, data[3]!, 0, 1]));
          socket.write(Buffer.from([0xe0, 2, 0x8e, 0]));
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const lines: Array<{ msg: string }> = [];
    const topics = new DeviceTopics();
    topics.add({
      name: 'native',
      matches: () => true,
      handle: async () => {},
      external: { filter: 'tacho/v1/+/telemetry', vinOf: () => 'VIN' },
    });
    const ingest = await startExternalIngest({
      url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
      clientId: 'tacho-server',
      topics,
      vehicleIdByVin: async () => null,
      rejectUnknown: async () => {},
      logger: createLogger('error', { write: (line: string) => lines.push(JSON.parse(line)) }),
    });
    try {
      const logged = await waitFor(
        async () => lines,
        (l) => l.length > 0,
      );
      expect(logged[0]?.msg).toMatch(
        /took over the session: give each instance its own TACHO_MQTT_CLIENT_ID/,
      );
    } finally {
      await ingest.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('topicMatches', () => {
  it('follows MQTT wildcard rules', () => {
    expect(topicMatches('tacho/v1/+/telemetry', 'tacho/v1/ABC/telemetry')).toBe(true);
    expect(topicMatches('tacho/v1/+/telemetry', 'tacho/v1/ABC/commands')).toBe(false);
    expect(topicMatches('tacho/v1/+/telemetry', 'tacho/v1/ABC/telemetry/x')).toBe(false);
    expect(topicMatches('owntracks/#', 'owntracks/u/d')).toBe(true);
  });
});

for (const engine of brokerProblem ? [] : engines) {
  describe(`external broker subscriber [${engine}]`, () => {
    const cleanup: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
    });

    async function publisher(): Promise<MqttClient> {
      const c = await mqtt.connectAsync(BROKER, {
        clientId: `pub-${randomBytes(4).toString('hex')}`,
        reconnectPeriod: 0,
      });
      cleanup.push(() => c.endAsync(true));
      return c;
    }

    it('stores what devices publish to the broker, once, and dead-letters unknown VINs', async () => {
      const clientId = `tacho-test-${randomBytes(4).toString('hex')}`;
      cleanup.push(() => dropSession(clientId));
      // A subscription of its own (the default): every message reaches it, none goes to another subscriber.
      const app: TestApp = await createTestApp(engine, {
        TACHO_MQTT_URL: BROKER,
        TACHO_MQTT_CLIENT_ID: clientId,
      });
      cleanup.push(() => app.dispose());
      const owner = await createTestUser(app, 'operator');
      const car = await createVehicleWithToken(app, owner, testVin(randomInt(100_000, 999_999)));

      const pub = await publisher();
      const t0 = Date.now() - 100_000;
      for (let i = 0; i < 50; i++) {
        const message = JSON.stringify({ ts: t0 + i, metrics: { speed_kmh: i } });
        await pub.publishAsync(`tacho/v1/${car.vin}/telemetry`, message, { qos: 1 });
        // Every tenth message is sent twice, as a redelivery would.
        if (i % 10 === 0) await pub.publishAsync(`tacho/v1/${car.vin}/telemetry`, message, { qos: 1 });
      }
      const unknownVin = testVin(randomInt(100_000, 999_999));
      await pub.publishAsync(`tacho/v1/${unknownVin}/telemetry`, JSON.stringify({ ts: t0, metrics: {} }), {
        qos: 1,
      });

      const count = () =>
        app.storage.db
          .selectFrom('samples')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
          .then((r) => Number(r.n));
      expect(await waitFor(count, (n) => n >= 50)).toBe(50);
      const letters = await waitFor(
        () => app.storage.db.selectFrom('dead_letters').selectAll().execute(),
        (l) => l.length > 0,
      );
      expect(letters[0]).toMatchObject({ topic: `tacho/v1/${unknownVin}/telemetry`, vehicle_id: null });
      expect(letters[0]?.reason).toMatch(/no vehicle has the VIN/);
      const ready = await app.http.inject({ method: 'GET', url: '/ready' });
      expect(ready.json().checks).toMatchObject({ broker: 'up', ingest: 'up' });
    });

    for (const shared of [false, true])
      it(`keeps its session across its own restart${shared ? ' in a share group' : ''}: messages sent while it is down are stored after`, async () => {
        const clientId = `tacho-test-${randomBytes(4).toString('hex')}`;
        cleanup.push(() => dropSession(clientId));
        const storage = await freshStorage(engine);
        cleanup.push(() => storage.drop());
        const env = {
          TACHO_MQTT_URL: BROKER,
          TACHO_MQTT_CLIENT_ID: clientId,
          // A group of its own, so no other subscriber takes a share.
          ...(shared ? { TACHO_MQTT_SHARE_GROUP: clientId } : {}),
        };
        const start = () =>
          createApp(
            loadConfig(
              { TACHO_DATA_DIR: tmpdir(), TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0', ...env },
              tmpdir(),
            ),
            { storage },
          );
        const first = await start();
        const owner = await createTestUser(first, 'operator');
        const car = await createVehicleWithToken(first, owner, testVin(randomInt(100_000, 999_999)));
        const pub = await publisher();
        const t0 = Date.now() - 100_000;
        const send = async (from: number, to: number) => {
          for (let i = from; i < to; i++) {
            await pub.publishAsync(
              `tacho/v1/${car.vin}/telemetry`,
              JSON.stringify({ ts: t0 + i, metrics: {}, raw: { i } }),
              {
                qos: 1,
              },
            );
          }
        };
        await send(0, 20);
        await first.close();
        await send(20, 40);
        const second = await start();
        cleanup.push(() => second.close());
        await send(40, 60);
        const rows = await waitFor(
          () => storage.db.selectFrom('samples').select('ts_ms').orderBy('ts_ms').execute(),
          (r) => r.length >= 60,
        );
        expect(rows.map((r) => r.ts_ms - t0)).toEqual(Array.from({ length: 60 }, (_, i) => i));
      });
  });
}
