import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlertRule } from '@tacho/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { openStorage, type Storage } from '../../db/index.js';
import { StartupError } from '../../lib/errors.js';
import { recordAppSecrets, testLogger } from '../../test/log-leaks.js';
import { engines, freshStorage, TEST_PG_URL } from '../../test/storage.js';
import { owntracksEncrypt } from '../formats/owntracks.js';
import { createTestVehicle, storedFor, type TestVehicle } from '../formats/test-setup.js';
import { runVaultRotate } from './command.js';
import { loadVaultKey } from './master-key.js';
import { rotateVault } from './rotate.js';
import { SIGNING_KEY_SETTING } from './sealed-columns.js';
import { keyIdOf, sealedKeyId } from './vault.js';

for (const engine of engines) {
  describe(`vault rotate [${engine}]`, () => {
    let dataDir: string;
    let storage: Storage | undefined;
    let drop: (() => Promise<void>) | undefined;
    const apps: App[] = [];
    afterEach(async () => {
      for (const app of apps.splice(0)) await app.close();
      if (drop) await drop();
      else await storage?.close();
      storage = undefined;
      drop = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    });

    /** The environment of the deployment: what `tacho serve` and `tacho vault rotate` both read. */
    let env: Record<string, string>;

    async function setUp() {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-rotate-'));
      env = { TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0' };
      if (engine === 'sqlite') {
        storage = await openStorage({ kind: 'sqlite', path: join(dataDir, 'tacho.db') });
      } else {
        const fresh = await freshStorage('postgres');
        storage = fresh;
        drop = () => fresh.drop();
        env.TACHO_DATABASE_URL = `${TEST_PG_URL}?options=${encodeURIComponent(`-c search_path=${fresh.schema}`)}`;
      }
    }

    async function start(extra: Record<string, string> = {}): Promise<App> {
      const logger = testLogger();
      const app = await createApp(loadConfig({ ...env, ...extra }, dataDir), {
        mqttPort: null,
        ...(logger ? { logger } : {}),
        storage: storage as Storage,
      });
      apps.push(app);
      await recordAppSecrets(app);
      return app;
    }

    async function stopAll() {
      for (const app of apps.splice(0)) await app.close();
    }

    async function createRule(app: App, car: TestVehicle, n: number): Promise<AlertRule> {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/alert-rules',
        headers: car.owner.headers,
        payload: {
          name: `Battery below ${n}`,
          vehicleId: car.id,
          condition: { metric: 'battery_level_pct', op: '<', value: n },
          channels: [{ type: 'inapp' }],
        },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<AlertRule>();
    }

    async function secretsSeen(app: App, car: TestVehicle): Promise<Map<string, string | null>> {
      const res = await app.http.inject({
        method: 'GET',
        url: '/api/v1/alert-rules',
        headers: car.owner.headers,
      });
      expect(res.statusCode, res.body).toBe(200);
      const rules = (res.json() as { items: AlertRule[] }).items;
      return new Map(rules.map((r) => [r.id, r.webhookSecret]));
    }

    /** The key ids the stored secrets are sealed under (the rotation's own settings aside). */
    async function keyIds(): Promise<Set<string | null>> {
      const db = (storage as Storage).db;
      const values = [
        ...(await db.selectFrom('alert_rules').select('secret').execute()).map((r) => r.secret),
        ...(await db.selectFrom('device_bindings').select('secret').execute()).map((r) => r.secret ?? ''),
        ...(
          await db.selectFrom('settings').select('value').where('key', '=', SIGNING_KEY_SETTING).execute()
        ).map((r) => r.value),
      ];
      return new Set(values.map(sealedKeyId));
    }

    async function owntracksOpens(app: App, car: TestVehicle, tsS: number) {
      const location = { _type: 'location', lat: 52.5, lon: 13.4, tst: tsS };
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/owntracks',
        headers: {
          authorization: `Basic ${Buffer.from(`anna:${car.token}`).toString('base64')}`,
          'x-limit-u': 'anna',
          'x-limit-d': 'phone',
        },
        payload: {
          _type: 'encrypted',
          data: owntracksEncrypt(JSON.stringify(location), 'correct horse staple'),
        },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect((await storedFor(app, car.id)).samples.map((s) => s.ts_ms)).toContain(tsS * 1000);
    }

    it('re-seals everything under a new key while the server runs; everything still opens, before and after the restart', async () => {
      await setUp();
      const app = await start();
      const oldId = keyIdOf(loadVaultKey(app.config.encryption).key);
      const car = await createTestVehicle(app);
      for (let n = 1; n <= 7; n++) await createRule(app, car, n);
      const bind = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.id}/devices`,
        headers: car.owner.headers,
        payload: { kind: 'owntracks', deviceId: 'anna/phone', secret: 'correct horse staple' },
      });
      expect(bind.statusCode, bind.body).toBe(201);
      const before = await secretsSeen(app, car);
      const access = await app.auth.accessTokens.sign(car.owner.id, 'login-1');
      expect(await keyIds()).toEqual(new Set([oldId]));

      // The rotation, as `tacho vault rotate` runs it, beside a server that keeps creating and reading rules.
      const newKeyFile = join(dataDir, 'next.key');
      const lines: string[] = [];
      const created: AlertRule[] = [];
      const [code] = await Promise.all([
        runVaultRotate({ newKeyFile, batch: 2 }, env, (line) => lines.push(line)),
        (async () => {
          for (let n = 10; n < 14; n++) {
            created.push(await createRule(app, car, n));
            const seen = await secretsSeen(app, car);
            for (const [id, secret] of before) expect(seen.get(id)).toBe(secret);
          }
        })(),
      ]);
      expect(code, lines.join('\n')).toBe(0);
      expect(statSync(newKeyFile).mode & 0o777).toBe(0o600);
      const newKey = loadVaultKey({ kind: 'file', path: newKeyFile, explicit: true }).key;
      const newId = keyIdOf(newKey);
      expect(lines.join('\n')).toContain(`all secrets are sealed under key ${newId}`);
      for (const line of lines) expect(line).not.toContain(Buffer.from(newKey).toString('base64'));
      // A rule the server made during the rotation may have been sealed under the old key just before the
      // switch; running it again (resumable) takes it along.
      expect(await runVaultRotate({ newKeyFile, batch: 2 }, env, () => {})).toBe(0);
      expect(await keyIds()).toEqual(new Set([newId]));

      // The running server (configured with the old key) still opens every value and seals under the new.
      const seen = await secretsSeen(app, car);
      for (const [id, secret] of before) expect(seen.get(id)).toBe(secret);
      for (const rule of created) expect(seen.get(rule.id)).toBe(rule.webhookSecret);
      const later = await createRule(app, car, 20);
      expect(await keyIds()).toEqual(new Set([newId]));
      await owntracksOpens(app, car, 1_750_000_000);
      expect(await app.auth.accessTokens.verify(access.token)).toMatchObject({ userId: car.owner.id });

      // Restarted with the new key: the same secrets, the same signing key.
      await stopAll();
      const restarted = await start({ TACHO_ENCRYPTION_KEY_FILE: newKeyFile });
      const after = await secretsSeen(restarted, car);
      for (const [id, secret] of before) expect(after.get(id)).toBe(secret);
      expect(after.get(later.id)).toBe(later.webhookSecret);
      await owntracksOpens(restarted, car, 1_750_000_100);
      expect(await restarted.auth.accessTokens.verify(access.token)).toMatchObject({ userId: car.owner.id });

      // --finish drops the old key from the database: a start with it now fails closed.
      const finishEnv = { ...env, TACHO_ENCRYPTION_KEY_FILE: newKeyFile };
      expect(await runVaultRotate({ newKeyFile, finish: true }, finishEnv, () => {})).toBe(0);
      const settings = await (storage as Storage).db.selectFrom('settings').select('key').execute();
      expect(settings.filter((s) => s.key.startsWith('vault.'))).toEqual([]);
      await stopAll();
      const failure = await start().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StartupError);
      expect((failure as Error).message).toMatch(/TACHO_ENCRYPTION_KEY_FILE/);
      const again = await start({ TACHO_ENCRYPTION_KEY_FILE: newKeyFile });
      expect((await secretsSeen(again, car)).get(later.id)).toBe(later.webhookSecret);
    });

    it('a rotation stopped half way leaves every value opening, and carries on when run again', async () => {
      await setUp();
      const app = await start();
      const car = await createTestVehicle(app);
      for (let n = 1; n <= 6; n++) await createRule(app, car, n);
      const before = await secretsSeen(app, car);
      const currentKey = loadVaultKey(app.config.encryption).key;
      const newKey = new Uint8Array(Buffer.alloc(32, 7));
      const stopped = await rotateVault({
        db: (storage as Storage).db,
        currentKey,
        newKey,
        batch: 2,
        report: (line) => {
          if (line.includes('re-sealed')) throw new Error('stopped');
        },
      }).catch((error: Error) => error.message);
      expect(stopped).toBe('stopped');
      const mixed = await keyIds();
      expect(mixed).toEqual(new Set([keyIdOf(currentKey), keyIdOf(newKey)]));
      const seen = await secretsSeen(app, car);
      for (const [id, secret] of before) expect(seen.get(id)).toBe(secret);
      const done = await rotateVault({ db: (storage as Storage).db, currentKey, newKey, batch: 2 });
      expect(done.resealed).toBeGreaterThan(0);
      expect(await keyIds()).toEqual(new Set([keyIdOf(newKey)]));
      const after = await secretsSeen(app, car);
      for (const [id, secret] of before) expect(after.get(id)).toBe(secret);
    });
  });
}
