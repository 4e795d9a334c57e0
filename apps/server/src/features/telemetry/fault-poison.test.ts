import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { openStorage } from '../../db/index.js';
import { createTestUser } from '../auth/testing.js';
import { freePort, type ServerProcess, sleep, startServerProcess } from './fault-helpers.js';
import { createVehicleWithToken, testVin } from './test-fixtures.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/**
 * Issue 24.1: `{"ts":9e15,…}` at QoS 1 made the broker's publish hook throw (`new Date(9e15)` has no ISO
 * text), the process exited 1, and the device's persistent session sent it again after every restart.
 * The real server runs in a child process here, so its exit is seen as such.
 */
it('a poisoned QoS 1 message is acknowledged and dead-lettered; the server keeps serving the next one', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-poison-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const env = {
    TACHO_DATA_DIR: dataDir,
    TACHO_PORT: String(httpPort),
    TACHO_MQTT_PORT: String(mqttPort),
    TACHO_LOG_LEVEL: 'warn',
  };

  const setup = await createApp(loadConfig(env, dataDir), { mqttPort: null });
  const owner = await createTestUser(setup, 'operator');
  const car = await createVehicleWithToken(setup, owner, testVin(2401));
  await setup.close();

  const server: ServerProcess = startServerProcess(env);
  cleanup.push(() => server.child.kill('SIGKILL'));
  await server.ready;
  const exited = server.exited.then(() => {
    throw new Error(`the server exited: ${server.output()}`);
  });
  exited.catch(() => {});

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    username: car.vin,
    password: car.token,
    clientId: 'poisoned-device',
    // As the device in the report: a persistent session resends whatever was not acknowledged.
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  cleanup.push(() => client.endAsync(true));
  const topic = `tacho/v1/${car.vin}/telemetry`;
  const valid = JSON.stringify({ ts: Date.now() - 1000, seq: 2, metrics: { speed_kmh: 42 } });
  // Each resolves on its PUBACK, which leaves once the message (or its dead letter) is committed.
  await Promise.race([
    client.publishAsync(topic, '{"ts":9e15,"seq":1,"metrics":{"speed_kmh":1}}', { qos: 1 }),
    exited,
  ]);
  await Promise.race([client.publishAsync(topic, valid, { qos: 1 }), exited]);
  const health = await Promise.race([fetch(`http://127.0.0.1:${httpPort}/health`), exited]);
  expect(health.status).toBe(200);
  expect(server.child.exitCode).toBeNull();

  await client.endAsync(true);
  server.child.kill('SIGTERM');
  await Promise.race([server.exited, sleep(10_000)]);
  const storage = await openStorage({ kind: 'sqlite', path: join(dataDir, 'tacho.db') });
  cleanup.push(() => storage.close());
  const samples = await storage.db.selectFrom('samples').select(['seq']).execute();
  expect(samples).toEqual([{ seq: 2 }]);
  const letters = await storage.db.selectFrom('dead_letters').select(['reason', 'payload']).execute();
  expect(letters).toEqual([
    {
      reason:
        'ts: 9000000000000000 is after the year 9999 (microseconds? send epoch milliseconds or ISO-8601)',
      payload: '{"ts":9000000000000000,"seq":1,"metrics":{"speed_kmh":1}}',
    },
  ]);
}, 90_000);
