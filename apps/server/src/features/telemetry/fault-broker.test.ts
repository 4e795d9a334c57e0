import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../db/index.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { CuttableProxy } from '../../test/cuttable-proxy.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { freePort, sleep, waitUntil } from './fault-helpers.js';
import { createVehicleWithToken, testVin } from './test-fixtures.js';

const mosquittoProblem = spawnSync('mosquitto', ['-h']).error?.message ?? null;
if (mosquittoProblem && process.env.CI === 'true') {
  throw new Error(`the mosquitto binary is required under CI: ${mosquittoProblem}`);
}
if (mosquittoProblem)
  console.warn(`[tests] skipping the broker restart tests: no mosquitto (${mosquittoProblem})`);

/** A private Mosquitto on a random loopback port with on-disk persistence, so it can be restarted. */
class OwnBroker {
  private child: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'tacho-mosq-'));
  constructor(readonly port: number) {
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${this.dir}/`,
        'max_queued_messages 100000',
        // Run as root, Mosquitto switches to the `mosquitto` user, which may not write our temp directory.
        `user ${userInfo().username}`,
        'log_dest none',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    this.child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await waitUntil('mosquitto listening', async () => {
      const { connect } = await import('node:net');
      return new Promise<boolean>((resolve) => {
        const s = connect(this.port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
    });
  }

  /** SIGTERM: Mosquitto writes its persistence file (sessions, queued messages) and exits. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    child.kill('SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A device that publishes QoS 1 at a steady pace and reconnects by itself, as real ones do (mqtt.js sends
 * again whatever was not acknowledged). It records, per message, the run of the broker (1, 2, …; the test
 * advances it when it restarts the broker) that was up when the device first published it and the one
 * whose PUBACK it got.
 */
class Device {
  readonly publishedIn = new Map<number, number>();
  readonly ackedBy = new Map<number, number>();
  brokerRun = 1;
  private connectionRun = 1;

  private constructor(
    private readonly client: MqttClient,
    private readonly topic: string,
    private readonly body: (i: number) => string,
  ) {
    // At the CONNACK, not at 'connect': mqtt.js emits that only after it has sent again what was in flight,
    // and the restarted broker's PUBACKs for those may come first.
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') this.connectionRun = this.brokerRun;
    });
  }

  static async connect(url: string, topic: string, body: (i: number) => string): Promise<Device> {
    const client = mqtt.connect(url, {
      clientId: `dev-${randomBytes(4).toString('hex')}`,
      reconnectPeriod: 100,
      connectTimeout: 5000,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return new Device(client, topic, body);
  }

  /** Publishes messages `from` up to `to`, 3 every 10 ms, and resolves once the broker acknowledged all. */
  async send(from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) {
      this.publishedIn.set(i, this.brokerRun);
      this.client.publishAsync(this.topic, this.body(i), { qos: 1 }).then(
        () => this.ackedBy.set(i, this.connectionRun),
        () => {},
      );
      if ((i - from) % 3 === 2) await sleep(10);
    }
    await waitUntil(
      `device: messages ${from}..${to - 1} acknowledged by the broker`,
      () => range(from, to).every((i) => this.ackedBy.has(i)),
      60_000,
    );
  }

  /** Messages below `to` that only the restarted broker ever saw: first published after the restart. */
  onlyAfterRestart(to: number): number[] {
    return range(0, to).filter((i) => this.publishedIn.get(i) === 2);
  }

  close(): Promise<void> {
    return this.client.endAsync(true).then(() => {});
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

/**
 * Streams 1,500 messages from a device while Tacho is away from the broker and the broker restarts.
 * Tacho reaches the broker through a proxy the test cuts, so "away" is certain rather than a race: what
 * the restarted broker takes before Tacho is back has nobody connected to go to, and only a subscription
 * that outlives the restart keeps it.
 */
async function restartWhileAway(
  engine: Engine,
  shareGroup: string | undefined,
  cleanup: Array<() => unknown>,
) {
  const broker = new OwnBroker(await freePort());
  cleanup.push(() => broker.dispose());
  await broker.start();
  const proxy = new CuttableProxy(await freePort(), { host: '127.0.0.1', port: broker.port });
  await proxy.up();
  cleanup.push(() => proxy.down());
  const app: TestApp = await createTestApp(engine, {
    TACHO_MQTT_URL: `mqtt://127.0.0.1:${proxy.port}`,
    TACHO_MQTT_CLIENT_ID: `tacho-fault-${randomBytes(3).toString('hex')}`,
    ...(shareGroup ? { TACHO_MQTT_SHARE_GROUP: shareGroup } : {}),
  });
  cleanup.push(() => app.dispose());
  const owner = await createTestUser(app, 'operator');
  const car = await createVehicleWithToken(app, owner, testVin(777));
  const t0 = Date.now() - 3_600_000;
  const device = await Device.connect(
    `mqtt://127.0.0.1:${broker.port}`,
    `tacho/v1/${car.vin}/telemetry`,
    (i) => JSON.stringify({ ts: t0 + i, metrics: { speed_kmh: i % 200 } }),
  );
  cleanup.push(() => device.close());

  const streaming = device.send(0, 1500);
  await waitUntil('Tacho receiving', () => device.ackedBy.size >= 400);
  await proxy.down();
  await waitUntil('the broker queueing for Tacho', () => device.ackedBy.size >= 700);
  // SIGTERM: Mosquitto writes sessions and queued messages to its persistence file and exits.
  await broker.stop();
  device.brokerRun = 2;
  await broker.start();
  // The device reconnects on its own and sends the rest to the restarted broker, Tacho still away.
  await streaming;
  expect(device.onlyAfterRestart(1500).length).toBeGreaterThan(0);
  const stored = async () =>
    new Set(
      (await app.storage.db.selectFrom('samples').select('ts_ms').execute()).map((r) => Number(r.ts_ms) - t0),
    );
  return { app, proxy, device, stored };
}

async function subscribedAgain(app: TestApp): Promise<boolean> {
  const ready = await app.http.inject({ method: 'GET', url: '/ready' });
  return ready.json().checks?.broker === 'up';
}

for (const _ of mosquittoProblem ? [] : [1]) {
  describe('external broker restarted while devices stream', () => {
    const cleanup: Array<() => unknown> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    for (const engine of engines) {
      it(`loses no message the broker acknowledged, with a subscription of its own (the default) [${engine}]`, async () => {
        const { app, proxy, device, stored } = await restartWhileAway(engine, undefined, cleanup);
        // Tacho comes back while the device goes on streaming.
        const rest = device.send(1500, 2000);
        await proxy.up();
        await rest;
        await waitUntil(
          'every acknowledged message stored',
          async () => (await stored()).size >= 2000,
          45_000,
        );
        const rows = await app.storage.db
          .selectFrom('samples')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        // Every message the device got a PUBACK for, once.
        expect(Number(rows.n)).toBe(2000);
        expect([...(await stored())].sort((a, b) => a - b)).toEqual(range(0, 2000));
      }, 120_000);
    }

    it('in a share group, loses what the restarted broker took before Tacho subscribed again (Mosquitto 2.0)', async () => {
      const { app, proxy, device, stored } = await restartWhileAway('sqlite', 'tacho-fault', cleanup);
      // The device waits until Tacho has subscribed again, so the window ends at a known message.
      await proxy.up();
      await waitUntil('Tacho subscribed again', () => subscribedAgain(app));
      await device.send(1500, 2000);
      const window = range(0, 1500).filter((i) => device.ackedBy.get(i) === 2);
      const kept = range(0, 2000).filter((i) => !window.includes(i));
      await waitUntil(
        'everything acknowledged outside the window stored',
        async () => {
          const rows = await stored();
          return kept.every((i) => rows.has(i));
        },
        45_000,
      );
      // Kept: what the first broker acknowledged, queued for Tacho's session before the restart (it
      // persists the session's queue), and all after Tacho subscribed again. Lost: what only the restarted
      // broker saw, since Mosquitto 2.0 restores no $share subscription; a message of the window that the
      // first broker had taken too (its PUBACK lost in the restart) may survive. If this fails because
      // nothing is lost, the broker now keeps shared subscriptions: update the README and decision 0015.
      const rows = await stored();
      expect(device.onlyAfterRestart(1500).filter((i) => rows.has(i))).toEqual([]);
      expect([...rows].every((i) => i >= 0 && i < 2000)).toBe(true);
    }, 120_000);
  });
}
