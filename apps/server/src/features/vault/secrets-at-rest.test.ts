import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlertRule } from '@tacho/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import type { Storage } from '../../db/index.js';
import { StartupError } from '../../lib/errors.js';
import { dumpText } from '../../test/dump.js';
import { recordAppSecrets, testLogger } from '../../test/log-leaks.js';
import { engines, freshStorage } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { owntracksEncrypt } from '../formats/owntracks.js';
import { createTestVehicle, storedFor, type TestVehicle } from '../formats/test-setup.js';
import { SIGNING_KEY_SETTING } from './sealed-columns.js';
import { isSealed } from './vault.js';

for (const engine of engines) {
  describe(`secrets at rest [${engine}]`, () => {
    let storage: (Storage & { drop(): Promise<void> }) | undefined;
    let dataDir: string;
    const apps: App[] = [];
    afterEach(async () => {
      for (const app of apps.splice(0)) await app.close();
      await storage?.drop();
      storage = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    });

    /** A server on the shared database; `env` sets the key. */
    async function start(env: Record<string, string> = {}): Promise<App> {
      const config = loadConfig(
        { TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0', ...env },
        dataDir,
      );
      const logger = testLogger();
      const app = await createApp(config, {
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

    async function prepare(app: App) {
      const car = await createTestVehicle(app);
      const rule = await app.http.inject({
        method: 'POST',
        url: '/api/v1/alert-rules',
        headers: car.owner.headers,
        payload: {
          name: 'Battery low',
          vehicleId: car.id,
          condition: { metric: 'battery_level_pct', op: '<', value: 20 },
          channels: [{ type: 'inapp' }],
        },
      });
      expect(rule.statusCode, rule.body).toBe(201);
      const owntracksSecret = `correct horse ${randomBytes(8).toString('hex')}`;
      const bind = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.id}/devices`,
        headers: car.owner.headers,
        payload: { kind: 'owntracks', deviceId: 'anna/phone', secret: owntracksSecret },
      });
      expect(bind.statusCode, bind.body).toBe(201);
      return { car, rule: rule.json<AlertRule>(), owntracksSecret };
    }

    async function signingKey(app: App): Promise<string> {
      const row = await app.storage.db
        .selectFrom('settings')
        .select('value')
        .where('key', '=', SIGNING_KEY_SETTING)
        .executeTakeFirstOrThrow();
      return app.vault.open(row.value, { table: 'settings', column: 'value', rowId: SIGNING_KEY_SETTING });
    }

    async function webhookSecretOf(app: App, car: TestVehicle, ruleId: string) {
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/alert-rules/${ruleId}`,
        headers: car.owner.headers,
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<AlertRule>().webhookSecret;
    }

    it('a database dump holds none of the webhook secrets, OwnTracks secrets or the signing key', async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
      storage = await freshStorage(engine);
      const app = await start();
      const { car, rule, owntracksSecret } = await prepare(app);
      const plaintexts = [rule.webhookSecret as string, owntracksSecret, await signingKey(app)];
      expect(rule.webhookSecret).toMatch(/.{32,}/);
      expect(await webhookSecretOf(app, car, rule.id)).toBe(rule.webhookSecret);
      const dump = await dumpText(storage);
      for (const secret of plaintexts) expect(dump.filter((v) => v.includes(secret))).toEqual([]);
      const sealed = dump.filter(isSealed);
      expect(sealed.length).toBeGreaterThanOrEqual(3);
    });

    it('seals values a database from before the vault holds in clear, at the next start, and they still work', async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
      storage = await freshStorage(engine);
      const first = await start();
      const { car, rule } = await prepare(first);
      const keyBefore = await signingKey(first);
      const access = await first.auth.accessTokens.sign(car.owner.id, 'login-1');
      await stopAll();
      // What a database from before the vault holds: every secret in clear.
      const db = storage.db;
      await db.updateTable('alert_rules').set({ secret: 'legacy-webhook-secret-0123456789abcdef' }).execute();
      await db.updateTable('device_bindings').set({ secret: 'legacy owntracks secret' }).execute();
      await db
        .updateTable('settings')
        .set({ value: keyBefore })
        .where('key', '=', SIGNING_KEY_SETTING)
        .execute();

      const second = await start();
      const dump = await dumpText(storage);
      for (const secret of ['legacy-webhook-secret-0123456789abcdef', 'legacy owntracks secret', keyBefore])
        expect(dump.filter((v) => v.includes(secret))).toEqual([]);
      expect(await webhookSecretOf(second, car, rule.id)).toBe('legacy-webhook-secret-0123456789abcdef');
      // The same signing key, opened: the access token issued before the restart is still good.
      expect(await signingKey(second)).toBe(keyBefore);
      expect(await second.auth.accessTokens.verify(access.token)).toMatchObject({ userId: car.owner.id });
      // The OwnTracks secret opens the phone's encrypted payloads.
      const location = { _type: 'location', lat: 52.5, lon: 13.4, tst: 1_750_000_000 };
      const ingest = await second.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/owntracks',
        headers: {
          authorization: `Basic ${Buffer.from(`anna:${car.token}`).toString('base64')}`,
          'x-limit-u': 'anna',
          'x-limit-d': 'phone',
        },
        payload: {
          _type: 'encrypted',
          data: owntracksEncrypt(JSON.stringify(location), 'legacy owntracks secret'),
        },
      });
      expect(ingest.statusCode, ingest.body).toBe(200);
      expect((await storedFor(second, car.id)).samples).toMatchObject([
        { ts_ms: 1_750_000_000_000, lat: 52.5 },
      ]);
      // A third start finds nothing left to seal and changes nothing.
      const sealedNow = (await db.selectFrom('alert_rules').select('secret').executeTakeFirstOrThrow())
        .secret;
      await stopAll();
      await start();
      expect((await db.selectFrom('alert_rules').select('secret').executeTakeFirstOrThrow()).secret).toBe(
        sealedNow,
      );
    });

    it("refuses two rules' sealed secrets swapped in the database", async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
      storage = await freshStorage(engine);
      const app = await start();
      const { car, rule } = await prepare(app);
      const other = await app.http.inject({
        method: 'POST',
        url: '/api/v1/alert-rules',
        headers: car.owner.headers,
        payload: {
          name: 'Battery very low',
          vehicleId: car.id,
          condition: { metric: 'battery_level_pct', op: '<', value: 10 },
          channels: [{ type: 'inapp' }],
        },
      });
      const otherId = other.json<AlertRule>().id;
      const rows = await storage.db.selectFrom('alert_rules').select(['id', 'secret']).execute();
      const secretOf = (id: string) => rows.find((r) => r.id === id)?.secret as string;
      await storage.db
        .updateTable('alert_rules')
        .set({ secret: secretOf(otherId) })
        .where('id', '=', rule.id)
        .execute();
      await storage.db
        .updateTable('alert_rules')
        .set({ secret: secretOf(rule.id) })
        .where('id', '=', otherId)
        .execute();
      expect(await webhookSecretOf(app, car, rule.id)).toBeNull();
      expect(await webhookSecretOf(app, car, otherId)).toBeNull();
    });

    it("an OwnTracks secret that does not open refuses the device's encrypted payloads as dead letters", async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
      storage = await freshStorage(engine);
      const app = await start();
      const { car, owntracksSecret } = await prepare(app);
      // A sealed value from another table put in the binding's place.
      const foreign = await storage.db.selectFrom('alert_rules').select('secret').executeTakeFirstOrThrow();
      await storage.db.updateTable('device_bindings').set({ secret: foreign.secret }).execute();
      const location = { _type: 'location', lat: 52.5, lon: 13.4, tst: 1_750_000_000 };
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/ingest/owntracks',
        headers: {
          authorization: `Basic ${Buffer.from(`anna:${car.token}`).toString('base64')}`,
          'x-limit-u': 'anna',
          'x-limit-d': 'phone',
        },
        payload: { _type: 'encrypted', data: owntracksEncrypt(JSON.stringify(location), owntracksSecret) },
      });
      expect(res.statusCode, res.body).toBeLessThan(500);
      expect((await storedFor(app, car.id)).samples).toEqual([]);
      const dead = await storage.db
        .selectFrom('dead_letters')
        .select('reason')
        .where('vehicle_id', '=', car.id)
        .execute();
      expect(dead.map((d) => d.reason).join('\n')).toMatch(/no key is set/);
    });

    it('a webhook whose secret does not open is not sent at all, never sent unsigned', async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
      storage = await freshStorage(engine);
      const app = await start();
      const { car } = await prepare(app);
      const requests: string[] = [];
      const receiver = createServer((req, res) => {
        requests.push(String(req.url));
        res.writeHead(200).end('ok');
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
        const admin = await createTestUser(app, 'admin');
        const created = await app.http.inject({
          method: 'POST',
          url: '/api/v1/alert-rules',
          headers: admin.headers,
          payload: {
            name: 'Webhook',
            vehicleId: car.id,
            condition: { metric: 'battery_level_pct', op: '<', value: 20 },
            channels: [{ type: 'webhook', url, allowPrivate: true }],
          },
        });
        expect(created.statusCode, created.body).toBe(201);
        const id = created.json<AlertRule>().id;
        const sendTest = () =>
          app.http.inject({ method: 'POST', url: `/api/v1/alert-rules/${id}/test`, headers: admin.headers });
        expect((await sendTest()).json()).toMatchObject({ results: [{ channel: 'webhook', ok: true }] });
        expect(requests).toHaveLength(1);
        // Another rule's sealed secret copied into this row.
        const other = await storage.db
          .selectFrom('alert_rules')
          .select('secret')
          .where('id', '<>', id)
          .executeTakeFirstOrThrow();
        await storage.db
          .updateTable('alert_rules')
          .set({ secret: other.secret })
          .where('id', '=', id)
          .execute();
        const refused = await sendTest();
        expect(refused.json()).toMatchObject({
          results: [{ channel: 'webhook', ok: false, error: expect.stringMatching(/does not open/) }],
        });
        expect(requests).toHaveLength(1);
      } finally {
        await new Promise((resolve) => receiver.close(resolve));
      }
    });

    it('a start with another key than the secrets were sealed with stops with a line naming the variable', async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
      storage = await freshStorage(engine);
      await prepare(await start());
      await stopAll();
      const wrong = randomBytes(32).toString('base64');
      const failure = await start({ TACHO_ENCRYPTION_KEY: wrong }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StartupError);
      expect((failure as Error).message).toMatch(
        /^the encryption key from TACHO_ENCRYPTION_KEY does not open the secrets in the database .*: set TACHO_ENCRYPTION_KEY to the key they were sealed with$/,
      );
      expect((failure as Error).message).not.toContain(wrong);
      // The right key (the default file) still opens everything.
      await start();
    });
  });
}
