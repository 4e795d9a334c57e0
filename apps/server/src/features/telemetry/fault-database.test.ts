import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { systemClock } from '../../lib/clock.js';
import { EventBus } from '../../lib/events.js';
import { createLogger } from '../../lib/logger.js';
import { storageBehindProxy } from '../../test/cuttable-proxy.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { CountingPublisher, sleep, waitUntil } from './fault-helpers.js';
import { IngestPipeline } from './pipeline.js';
import { createVehicleWithToken, insertVehicle, testVin } from './test-fixtures.js';

// PostgreSQL behind a proxy is the outage we can cause and end precisely; it runs wherever PostgreSQL does
// (always under CI, see test/storage.ts).
for (const _engine of engines.filter((e) => e === 'postgres'))
  describe('database unavailable for a while [postgres]', () => {
    const cleanup: Array<() => unknown> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    it('acknowledges nothing while the database is down, reports it in /ready, and stores everything after', async () => {
      const { proxy, storage } = await storageBehindProxy(4, cleanup);
      const dataDir = mkdtempSync(join(tmpdir(), 'tacho-dbdown-'));
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const app = await createApp(
        loadConfig({ TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0' }, dataDir),
        {
          storage,
          mqttPort: 0,
        },
      );
      cleanup.push(() => app.close());
      const owner = await createTestUser(app, 'operator');
      const car = await createVehicleWithToken(app, owner, testVin(555));
      const topic = `tacho/v1/${car.vin}/telemetry`;
      const publisher = await CountingPublisher.connect(
        `mqtt://127.0.0.1:${app.broker!.port}`,
        { username: car.vin, password: car.token, reconnectPeriod: 0 },
        topic,
      );
      cleanup.push(() => publisher.close());
      const t0 = Date.now() - 60_000;
      const message = (i: number) => ({
        key: String(t0 + i),
        body: JSON.stringify({ ts: t0 + i, metrics: { battery_level_pct: 50 + (i % 50) } }),
      });

      publisher.start(message, 0, 50, 50);
      await waitUntil('messages before the outage acknowledged', () => publisher.acked.size === 50);

      await proxy.down();
      publisher.start(message, 50, 200, 200);
      await sleep(1500);
      expect(publisher.acked.size).toBe(50);
      const ready = await app.http.inject({ method: 'GET', url: '/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().down).toEqual(expect.arrayContaining(['database', 'ingest']));

      await proxy.up();
      await waitUntil('messages from the outage acknowledged', () => publisher.acked.size === 250, 30_000);
      const rows = await storage.db.selectFrom('samples').select('ts_ms').orderBy('ts_ms').execute();
      expect(rows.map((r) => r.ts_ms - t0)).toEqual(Array.from({ length: 250 }, (_, i) => i));
      await waitUntil(
        'ready again',
        async () => (await app.http.inject({ method: 'GET', url: '/ready' })).statusCode === 200,
      );
    }, 60_000);

    it('keeps memory bounded while the database is down: producers wait instead of queueing without end', async () => {
      const { proxy, storage } = await storageBehindProxy(2, cleanup);
      const vehicleId = await insertVehicle(storage.db, testVin(556));
      const pipeline = new IngestPipeline(
        {
          storage,
          clock: systemClock,
          events: new EventBus(),
          logger: createLogger('silent'),
          registry: new Registry(),
        },
        { maxQueuedRows: 20, batchRows: 10 },
      );
      cleanup.push(() => pipeline.close(1000));

      await proxy.down();
      const t0 = Date.now() - 60_000;
      let settled = 0;
      const all = Array.from({ length: 100 }, (_, i) =>
        pipeline
          .ingest({ source: 'test', topic: 't', vehicleId }, [{ ts: t0 + i, metrics: { speed_kmh: 1 } }])
          .then((r) => {
            settled++;
            return r;
          }),
      );
      await sleep(1000);
      expect(settled).toBe(0);
      expect(pipeline.queued).toBeLessThanOrEqual(20);
      expect(pipeline.isHealthy()).toBe(false);

      await proxy.up();
      const results = await Promise.all(all);
      expect(results.reduce((n, r) => n + r.stored, 0)).toBe(100);
      expect(pipeline.isHealthy()).toBe(true);
    }, 60_000);
  });
