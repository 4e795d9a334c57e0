import { randomBytes } from 'node:crypto';
import type { Client } from 'aedes';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Audit } from '../../features/auth/index.js';
import { createTestUser } from '../../features/auth/testing.js';
import { createVehicleWithToken, testVin } from '../../features/telemetry/test-fixtures.js';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { RefusalAudit } from './refusal-audit.js';

const clients: MqttClient[] = [];

/** Connects and answers the CONNACK (sessionPresent), or rejects with the refusal. */
async function connect(
  url: string,
  options: IClientOptions,
): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  const client = mqtt.connect(url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `t-${randomBytes(4).toString('hex')}`,
    ...options,
  });
  clients.push(client);
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, connack };
}

async function loginOutcome(url: string, options: IClientOptions): Promise<string> {
  return connect(url, options).then(
    () => 'connected',
    (error: Error) => error.message,
  );
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});

for (const engine of engines) {
  describe(`MQTT client ids and refusals [${engine}]`, () => {
    let app: TestApp;
    let lines: string[];
    let url: string;
    let a: { vehicleId: string; vin: string; token: string };
    let b: { vehicleId: string; vin: string; token: string };

    async function start() {
      lines = [];
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      app = await createTestApp(engine, {}, { mqttPort: 0, logger });
      url = `mqtt://127.0.0.1:${app.broker!.port}`;
      const owner = await createTestUser(app, 'operator');
      a = await createVehicleWithToken(app, owner, testVin(51));
      b = await createVehicleWithToken(app, owner, testVin(52));
    }
    const audit = () => lines.map((l) => JSON.parse(l)).filter((l) => l.audit === true);
    afterEach(async () => {
      await app?.dispose();
    });

    // Issue 24.11
    it("refuses a client id another vehicle's device is connected with; that device keeps its connection", async () => {
      await start();
      const { client: first } = await connect(url, { username: a.vin, password: a.token, clientId: 'esp32' });
      let firstClosed = false;
      first.on('close', () => {
        firstClosed = true;
      });
      expect(await loginOutcome(url, { username: b.vin, password: b.token, clientId: 'esp32' })).toMatch(
        /Identifier rejected/i,
      );
      await first.publishAsync(
        `tacho/v1/${a.vin}/telemetry`,
        JSON.stringify({ ts: Date.now(), metrics: {} }),
        {
          qos: 1,
        },
      );
      expect(firstClosed).toBe(false);
      // The same vehicle's device reconnecting with its id takes over, as MQTT says.
      expect(await loginOutcome(url, { username: a.vin, password: a.token, clientId: 'esp32' })).toBe(
        'connected',
      );
    });

    it("refuses a client id whose session the broker keeps for another vehicle's device", async () => {
      await start();
      const options = { username: a.vin, password: a.token, clientId: 'kept-session', clean: false };
      const { client: first } = await connect(url, options);
      await first.subscribeAsync(`tacho/v1/${a.vin}/commands`, { qos: 1 });
      await first.endAsync();
      for (const clean of [false, true]) {
        const taker = { username: b.vin, password: b.token, clientId: 'kept-session', clean };
        expect(await loginOutcome(url, taker)).toMatch(/Identifier rejected/i);
      }
      const { connack } = await connect(url, options);
      expect(connack.sessionPresent).toBe(true);
    });

    // Issue 24.13
    it('writes refused connects, publishes and subscriptions as audit lines with VIN and address, never the password', async () => {
      await start();
      for (let i = 0; i < 20; i++) {
        expect(await loginOutcome(url, { username: a.vin, password: 'tacho_wrong-guess' })).toMatch(
          /Bad username or password/i,
        );
      }
      const { client: device } = await connect(url, { username: a.vin, password: a.token });
      await device.subscribeAsync('#', { qos: 1 }).catch(() => {});
      const taken = { username: b.vin, password: b.token, clientId: device.options.clientId! };
      expect(await loginOutcome(url, taken)).toMatch(/Identifier rejected/i);
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      device.publish(`tacho/v1/${b.vin}/telemetry`, JSON.stringify({ ts: Date.now(), metrics: {} }), {
        qos: 1,
      });
      await closed;

      const connects = audit().filter((l) => l.event === 'mqtt.connect_refused');
      // Twenty identical refusals are one line; the repeats are counted when the window turns.
      expect(connects.filter((l) => l.reason === 'bad username or password')).toEqual([
        expect.objectContaining({ vin: a.vin, ip: expect.stringMatching(/127\.0\.0\.1/) }),
      ]);
      expect(connects.find((l) => l.vin === b.vin)).toMatchObject({
        reason: 'client id in use by another vehicle',
        clientId: taken.clientId,
      });
      expect(audit().find((l) => l.event === 'mqtt.subscribe_refused')).toMatchObject({
        vin: a.vin,
        vehicleId: a.vehicleId,
        topic: '#',
        ip: expect.stringMatching(/127\.0\.0\.1/),
      });
      expect(audit().find((l) => l.event === 'mqtt.publish_refused')).toMatchObject({
        vin: a.vin,
        vehicleId: a.vehicleId,
        topic: `tacho/v1/${b.vin}/telemetry`,
        reason: 'topic not allowed',
      });
      const all = lines.join('\n');
      expect(all).not.toContain('wrong-guess');
      expect(all).not.toContain(a.token);
    });
  });
}

describe('MQTT refusal audit lines', () => {
  const client = (ip: string) => ({ id: 'dev-1', conn: { remoteAddress: ip } }) as unknown as Client;

  it('writes one line per refusal and window, the next one counting the repeats, and caps lines per window', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) });
    let now = 1_000_000;
    const refusals = new RefusalAudit(new Audit(logger), () => now, {
      windowMs: 60_000,
      maxLinesPerWindow: 3,
    });
    const refuse = (vin: string, ip = '192.0.2.1') =>
      refusals.refuse('mqtt.connect_refused', client(ip), { vin, reason: 'bad username or password' });

    for (let i = 0; i < 5; i++) refuse('VIN1');
    refuse('VIN2');
    refuse('VIN3');
    refuse('VIN4'); // over the cap of three lines
    expect(lines.map((l) => [l.vin, l.repeated, l.dropped])).toEqual([
      ['VIN1', undefined, undefined],
      ['VIN2', undefined, undefined],
      ['VIN3', undefined, undefined],
    ]);
    now += 60_000;
    refuse('VIN1');
    expect(lines[3]).toMatchObject({ event: 'mqtt.connect_refused', vin: 'VIN1', repeated: 4, dropped: 1 });
    expect(lines[3]).toMatchObject({ ip: '192.0.2.1', clientId: 'dev-1' });
  });
});
