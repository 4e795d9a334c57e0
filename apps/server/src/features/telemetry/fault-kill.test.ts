import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { openStorage } from '../../db/index.js';
import { createTestUser } from '../auth/testing.js';
import {
  CountingPublisher,
  freePort,
  type ServerProcess,
  sleep,
  startServerProcess,
  waitUntil,
} from './fault-helpers.js';
import { createVehicleWithToken, testVin } from './test-fixtures.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

it('kill -9 while QoS 1 publishers send: every PUBACKed message is stored exactly once after restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-kill-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const mqttPort = await freePort();
  const env = {
    TACHO_DATA_DIR: dataDir,
    TACHO_PORT: String(await freePort()),
    TACHO_MQTT_PORT: String(mqttPort),
    TACHO_LOG_LEVEL: 'warn',
  };

  // Provision a vehicle and its token in the server's database with the real routes.
  const setup = await createApp(loadConfig(env, dataDir), { mqttPort: null });
  const owner = await createTestUser(setup, 'operator');
  const car = await createVehicleWithToken(setup, owner, testVin(4242));
  await setup.close();

  const servers: ServerProcess[] = [];
  cleanup.push(() => {
    for (const s of servers) s.child.kill('SIGKILL');
  });
  const run = () => {
    const s = startServerProcess(env);
    servers.push(s);
    return s;
  };
  const first = run();
  await first.ready;

  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const topic = `tacho/v1/${car.vin}/telemetry`;
  const t0 = Date.now() - 3_600_000;
  const message = (p: number) => (i: number) => ({
    key: `${t0 + i}/${p}`,
    body: JSON.stringify({ ts: t0 + i, seq: p, metrics: { speed_kmh: i % 100, battery_level_pct: 50 } }),
  });
  const publishers = await Promise.all(
    Array.from({ length: 4 }, () =>
      CountingPublisher.connect(url, { username: car.vin, password: car.token, reconnectPeriod: 0 }, topic),
    ),
  );
  cleanup.push(() => Promise.all(publishers.map((p) => p.close())));
  publishers.forEach((p, n) => {
    p.start(message(n), 0, 1_000_000);
  });

  await waitUntil('some messages acknowledged', () => publishers.every((p) => p.acked.size >= 200));
  first.child.kill('SIGKILL');
  await first.exited;
  await Promise.all(publishers.map((p) => p.stop()));
  const acked = publishers.flatMap((p) => [...p.acked]);
  const sent = publishers.flatMap((p) => [...p.sent]);
  await Promise.all(publishers.map((p) => p.close()));
  expect(sent.length).toBeGreaterThan(acked.length);

  // Restart; devices send again what was never acknowledged (and some that was, as a redelivery would).
  const second = run();
  await second.ready;
  const ackedSet = new Set(acked);
  const retry = await CountingPublisher.connect(url, { username: car.vin, password: car.token }, topic);
  cleanup.push(() => retry.close());
  const toResend = sent.filter((k) => !ackedSet.has(k)).concat(acked.slice(0, 100));
  retry.start(
    (i) => {
      const key = toResend[i]!;
      const [ts, seq] = key.split('/').map(Number);
      return { key, body: JSON.stringify({ ts, seq, metrics: { speed_kmh: 1 } }) };
    },
    0,
    toResend.length,
    100,
  );
  await waitUntil('resent messages acknowledged', () => retry.acked.size === toResend.length, 30_000);
  second.child.kill('SIGTERM');
  await Promise.race([second.exited, sleep(10_000)]);

  const storage = await openStorage({ kind: 'sqlite', path: join(dataDir, 'tacho.db') });
  cleanup.push(() => storage.close());
  const rows = await storage.db.selectFrom('samples').select(['ts_ms', 'seq']).execute();
  const stored = rows.map((r) => `${r.ts_ms}/${r.seq}`);
  // Exactly once: one row per distinct message, and every acknowledged one among them.
  expect(stored.length).toBe(new Set(sent).size);
  const storedSet = new Set(stored);
  expect(acked.filter((k) => !storedSet.has(k))).toEqual([]);
}, 90_000);
