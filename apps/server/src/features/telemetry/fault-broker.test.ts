import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp } from '../../test/app.js';
import { createTestUser } from '../auth/testing.js';
import { CountingPublisher, freePort, sleep, waitUntil } from './fault-helpers.js';
import { createVehicleWithToken, testVin } from './test-fixtures.js';

const mosquittoProblem = spawnSync('mosquitto', ['-h']).error?.message ?? null;
if (mosquittoProblem && process.env.CI === 'true') {
  throw new Error(`the mosquitto binary is required under CI: ${mosquittoProblem}`);
}
if (mosquittoProblem)
  console.warn(`[tests] skipping the broker restart test: no mosquitto (${mosquittoProblem})`);

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

for (const _ of mosquittoProblem ? [] : [1]) {
  describe('external broker restarted mid-stream', () => {
    const cleanup: Array<() => unknown> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    it('loses no message the broker acknowledged', async () => {
      const broker = new OwnBroker(await freePort());
      cleanup.push(() => broker.dispose());
      await broker.start();
      const url = `mqtt://127.0.0.1:${broker.port}`;
      const app = await createTestApp('sqlite', {
        TACHO_MQTT_URL: url,
        TACHO_MQTT_CLIENT_ID: `tacho-fault-${randomBytes(3).toString('hex')}`,
      });
      cleanup.push(() => app.dispose());
      const owner = await createTestUser(app, 'operator');
      const car = await createVehicleWithToken(app, owner, testVin(777));

      const topic = `tacho/v1/${car.vin}/telemetry`;
      const total = 3000;
      const t0 = Date.now() - 3_600_000;
      const message = (i: number) => ({
        key: String(t0 + i),
        body: JSON.stringify({ ts: t0 + i, metrics: { speed_kmh: i % 200 } }),
      });
      const publisher = await CountingPublisher.connect(url, { reconnectPeriod: 0 }, topic);
      cleanup.push(() => publisher.close());
      publisher.start(message, 0, total, 50);
      await waitUntil('first messages acknowledged', () => publisher.acked.size >= 500);
      await broker.stop();
      await publisher.stop();
      await sleep(300);
      await broker.start();
      // The device comes back after the server has: Mosquitto 2.0 does not keep shared subscriptions over
      // its restart, so until the server subscribes again nothing would receive what devices publish.
      await waitUntil('server subscribed again', async () => {
        const ready = await app.http.inject({ method: 'GET', url: '/ready' });
        return ready.json().checks?.broker === 'up';
      });
      // The device sends again whatever the broker did not acknowledge, then the rest.
      const ackedBefore = new Set(publisher.acked);
      const remaining = Array.from({ length: total }, (_, i) => i).filter(
        (i) => !ackedBefore.has(String(t0 + i)),
      );
      const again = await CountingPublisher.connect(url, { reconnectPeriod: 0 }, topic);
      cleanup.push(() => again.close());
      again.start((n) => message(remaining[n]!), 0, remaining.length, 50);
      await waitUntil(
        'the rest acknowledged by the broker',
        () => again.acked.size === remaining.length,
        45_000,
      );
      const acked = [...ackedBefore, ...again.acked];

      const stored = async () =>
        new Set(
          (await app.storage.db.selectFrom('samples').select('ts_ms').execute()).map((r) => String(r.ts_ms)),
        );
      await waitUntil(
        'every acknowledged message stored',
        async () => (await stored()).size >= total,
        45_000,
      );
      const rows = await stored();
      expect(acked.filter((k) => !rows.has(k))).toEqual([]);
      expect(rows.size).toBe(total);
    }, 120_000);
  });
}
