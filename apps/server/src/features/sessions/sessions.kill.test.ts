import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricValue } from '@tacho/protocol';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { type Db, openStorage } from '../../db/index.js';
import { engines, TEST_PG_URL } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { freePort, type ServerProcess, startServerProcess, waitUntil } from '../telemetry/fault-helpers.js';
import { createVehicleWithToken, testVin } from '../telemetry/test-fixtures.js';
import {
  type DetectorEvent,
  type DetectorSample,
  detect,
  initialDetectorState,
  openSession,
} from './detector.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Ten drives with parked minutes between them, a sample every 30 s (device time an hour ago on). */
function stream(t0: number): unknown[] {
  const out: unknown[] = [];
  let odo = 1000;
  let ts = t0;
  for (let d = 0; d < 10; d++) {
    out.push({ ts, metrics: { gear: 'P', odometer_km: odo } });
    ts += 30_000;
    out.push({ ts, metrics: { gear: 'D', odometer_km: odo } });
    for (let i = 0; i < 20 + d; i++) {
      ts += 30_000;
      odo += 0.4;
      out.push({ ts, metrics: { speed_kmh: 48, odometer_km: Math.round(odo * 10) / 10 } });
    }
    ts += 30_000;
    out.push({ ts, metrics: { gear: 'P', odometer_km: Math.round(odo * 10) / 10 } });
    ts += 5 * 60_000;
  }
  return out;
}

/** What the detector makes of everything stored: the sessions the database must hold, no more. */
async function expectedSessions(db: Db, vehicleId: string) {
  const rows = await db
    .selectFrom('samples')
    .select(['ts_ms', 'metrics'])
    .where('vehicle_id', '=', vehicleId)
    .orderBy('ts_ms')
    .orderBy('seq')
    .execute();
  let state = initialDetectorState();
  const events: DetectorEvent[] = [];
  for (const r of rows) {
    const sample: DetectorSample = {
      tsMs: Number(r.ts_ms),
      metrics: JSON.parse(r.metrics) as Record<string, MetricValue>,
    };
    const out = detect(state, sample);
    state = out.state;
    events.push(...out.events);
  }
  const sessions = events.flatMap((e) => (e.type === 'ended' ? [e.session] : []));
  const open = openSession(state);
  if (open) sessions.push(open);
  return sessions.map((s) => ({ start: s.startMs, end: s.endMs, km: s.stats.distance_km }));
}

for (const engine of engines) {
  describe(`sessions across kill -9 [${engine}]`, () => {
    it('records each drive once, as the stored samples say, however often the server is killed', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'tacho-kill-sessions-'));
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const env: Record<string, string> = {
        TACHO_DATA_DIR: dataDir,
        TACHO_PORT: String(await freePort()),
        TACHO_MQTT_PORT: '0',
        TACHO_LOG_LEVEL: 'warn',
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
      const car = await createVehicleWithToken(setup, owner, testVin(7117));
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
      const base = `http://127.0.0.1:${env.TACHO_PORT}`;
      const messages = stream(Date.now() - 3 * 3_600_000);
      let server = await start();
      // Batches of 7; after every 9th batch the server is killed at once and started again. A batch
      // that got no answer is sent again (the samples' keys make that harmless).
      let sent = 0;
      for (let batch = 0; sent < messages.length; batch++) {
        const body = messages.slice(sent, sent + 7);
        const ok = await fetch(`${base}/api/v1/vehicles/${car.vin}/telemetry`, {
          method: 'POST',
          headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(
          (res) => res.status === 200,
          () => false,
        );
        if (ok) sent += body.length;
        if (batch % 9 === 8 || !ok) {
          server.child.kill('SIGKILL');
          await server.exited;
          server = await start();
        }
      }

      const storage =
        engine === 'sqlite'
          ? await openStorage({ kind: 'sqlite', path: join(dataDir, 'tacho.db') })
          : await openStorage({ kind: 'postgres', url: env.TACHO_DATABASE_URL! });
      cleanup.push(() => storage.close());
      const { db } = storage;
      await waitUntil('processing caught up', async () => {
        const marks = await db.selectFrom('processing_marks').select('id').execute();
        return marks.length === 0;
      });
      const expected = await expectedSessions(db, car.vehicleId);
      expect(expected.filter((s) => s.end !== null)).toHaveLength(10);
      const stored = await db
        .selectFrom('sessions')
        .select(['start_ms', 'end_ms', 'stats'])
        .where('vehicle_id', '=', car.vehicleId)
        .orderBy('start_ms')
        .execute();
      expect(
        stored.map((r) => ({
          start: Number(r.start_ms),
          end: r.end_ms === null ? null : Number(r.end_ms),
          km: (JSON.parse(r.stats) as { distance_km: number }).distance_km,
        })),
      ).toEqual(expected);
      server.child.kill('SIGTERM');
      await server.exited;
    }, 240_000);
  });
}
