import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { openStorage } from '../../db/index.js';
import { SmtpSink } from '../../test/smtp-sink.js';
import { engines, TEST_PG_URL } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { freePort, type ServerProcess, startServerProcess, waitUntil } from '../telemetry/fault-helpers.js';
import { createVehicleWithToken, testVin } from '../telemetry/test-fixtures.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

for (const engine of engines) {
  describe(`alert notifications across kill -9 [${engine}]`, () => {
    it('sends a firing killed mid-send once after the restart, and one killed before sending too', async () => {
      const smtp = await SmtpSink.start();
      cleanup.push(() => smtp.close());
      const dataDir = mkdtempSync(join(tmpdir(), 'tacho-kill-alerts-'));
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const env: Record<string, string> = {
        TACHO_DATA_DIR: dataDir,
        TACHO_PORT: String(await freePort()),
        TACHO_MQTT_PORT: '0',
        TACHO_LOG_LEVEL: 'warn',
        TACHO_SMTP_URL: smtp.url,
      };
      if (engine === 'postgres') {
        const schema = `kill_${randomBytes(4).toString('hex')}`;
        const admin = new pg.Client({ connectionString: TEST_PG_URL });
        await admin.connect();
        await admin.query(`create schema ${schema}`);
        await admin.end();
        cleanup.push(async () => {
          const c = new pg.Client({ connectionString: TEST_PG_URL });
          await c.connect();
          await c.query(`drop schema if exists ${schema} cascade`);
          await c.end();
        });
        env.TACHO_DATABASE_URL = `${TEST_PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      }
      const setup = await createApp(loadConfig(env, dataDir), { mqttPort: null });
      const owner = await createTestUser(setup, 'operator');
      const car = await createVehicleWithToken(setup, owner, testVin(7118));
      const rule = await setup.http.inject({
        method: 'POST',
        url: '/api/v1/alert-rules',
        headers: owner.headers,
        payload: {
          name: 'Battery low',
          vehicleId: car.vehicleId,
          condition: { metric: 'battery_level_pct', op: '<', value: 20 },
          channels: [{ type: 'email' }],
        },
      });
      expect(rule.statusCode).toBe(201);
      await setup.close();

      const servers: ServerProcess[] = [];
      cleanup.push(() => {
        for (const s of servers) s.child.kill('SIGKILL');
      });
      const start = async () => {
        const s = startServerProcess(env);
        servers.push(s);
        await s.ready;
        return s;
      };
      const post = (ts: number, soc: number) =>
        fetch(`http://127.0.0.1:${env.TACHO_PORT}/api/v1/vehicles/${car.vin}/telemetry`, {
          method: 'POST',
          headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
          body: JSON.stringify([{ ts, metrics: { battery_level_pct: soc } }]),
        });
      const t0 = Date.now() - 60_000;

      // 1. The receiving server takes the message but never answers: the server is killed mid-send.
      smtp.hold();
      let server = await start();
      expect((await post(t0, 30)).status).toBe(200);
      expect((await post(t0 + 1000, 10)).status).toBe(200);
      await waitUntil('the email is being sent', async () => smtp.started >= 1, 60_000);
      server.child.kill('SIGKILL');
      await server.exited;

      // 2. A second episode is committed, and the server killed before its email could go out (the SMTP
      // server is held, so nothing goes out while it runs).
      server = await start();
      expect((await post(t0 + 2000, 30)).status).toBe(200);
      expect((await post(t0 + 3000, 12)).status).toBe(200);
      const storage =
        engine === 'sqlite'
          ? await openStorage({ kind: 'sqlite', path: join(dataDir, 'tacho.db') })
          : await openStorage({ kind: 'postgres', url: env.TACHO_DATABASE_URL! });
      cleanup.push(() => storage.close());
      const { db } = storage;
      await waitUntil('both firings committed', async () => {
        const rows = await db
          .selectFrom('alert_deliveries')
          .select('id')
          .where('channel', '=', 'email')
          .execute();
        return rows.length === 2;
      });
      server.child.kill('SIGKILL');
      await server.exited;
      expect(smtp.received).toEqual([]);

      // 3. The SMTP server answers again; after a restart each firing's email arrives once.
      smtp.release();
      server = await start();
      await waitUntil(
        'both emails sent',
        async () => {
          const rows = await db
            .selectFrom('alert_deliveries')
            .select('status')
            .where('channel', '=', 'email')
            .execute();
          return rows.length === 2 && rows.every((r) => r.status === 'sent');
        },
        // PostgreSQL: the killed instance's lease on the first delivery runs out after a minute.
        120_000,
      );
      expect(smtp.received).toHaveLength(2);
      const subjects = smtp.received.map((m) => /Subject: (.*)/.exec(m.raw)?.[1]);
      expect(subjects.every((s) => s?.includes('Battery low'))).toBe(true);
      expect(new Set(smtp.received.map((m) => /Message-ID: (.*)/i.exec(m.raw)?.[1])).size).toBe(2);
      server.child.kill('SIGTERM');
      await server.exited;
    }, 300_000);
  });
}
