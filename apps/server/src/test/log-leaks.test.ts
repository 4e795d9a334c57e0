import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestVehicle } from '../features/formats/test-setup.js';
import { loadVaultKey, SIGNING_KEY_SETTING } from '../features/vault/index.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { createTestApp, type TestApp } from './app.js';
import { findLeaks, recordAppSecrets, recordSecrets } from './log-leaks.js';
import { engines } from './storage.js';

/** A log file in `dir` named the way findLeaks looks for. */
function fileLogger(dir: string, redacting: boolean): Logger {
  const destination = pino.destination({ dest: join(dir, 'log-case.jsonl'), sync: true });
  // Without Tacho's serializers Fastify logs each request's URL as it came: the leak the check must see.
  return redacting ? createLogger('debug', destination) : pino({ level: 'debug' }, destination);
}

for (const engine of engines) {
  describe(`secrets in logs [${engine}]`, () => {
    let app: TestApp | undefined;
    let dir: string;
    afterEach(async () => {
      await app?.dispose();
      app = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    /** A vehicle token sent the way Traccar Client and Overland send it: in the query string. */
    async function sendTokenInQueries(redacting: boolean) {
      dir = mkdtempSync(join(tmpdir(), 'tacho-leak-case-'));
      app = await createTestApp(engine, {}, { logger: fileLogger(dir, redacting) });
      await recordAppSecrets(app, dir);
      const vehicle = await createTestVehicle(app);
      const osmand = await app.http.inject({
        method: 'GET',
        url: `/api/v1/ingest/osmand?id=${vehicle.vin}&lat=52.5&lon=13.4&timestamp=1750000000&token=${vehicle.token}`,
      });
      expect(osmand.statusCode, osmand.body).toBe(200);
      const overland = await app.http.inject({
        method: 'POST',
        url: `/api/v1/ingest/overland?token=${vehicle.token}`,
        payload: { locations: [] },
      });
      expect(overland.statusCode, overland.body).toBeLessThan(500);
      // A URL Fastify cannot decode is logged too (and its error quotes it).
      await app.http.inject({ method: 'GET', url: `/api/v1/ingest/osmand%zz?token=${vehicle.token}` });
      const log = readFileSync(join(dir, 'log-case.jsonl'), 'utf8');
      return { vehicle, log };
    }

    it('logs the ingest URLs of Traccar Client and Overland with their token redacted', async () => {
      const { vehicle, log } = await sendTokenInQueries(true);
      expect(log).toContain('/api/v1/ingest/osmand?id=[redacted]&lat=[redacted]');
      expect(log).toContain('/api/v1/ingest/overland?token=[redacted]');
      expect(log).not.toContain(vehicle.token);
      expect(await findLeaks(dir)).toEqual([]);
    });

    it('the leak check finds the token when a deliberately unredacted logger writes those lines', async () => {
      const { vehicle, log } = await sendTokenInQueries(false);
      expect(log).toContain(`token=${vehicle.token}`);
      const leaks = await findLeaks(dir);
      expect(leaks.length).toBeGreaterThanOrEqual(2);
      expect(leaks[0]).toMatchObject({ file: 'log-case.jsonl', secret: `${vehicle.token.slice(0, 10)}…` });
    });

    it("records the vault's key and the opened signing key, so a log line holding either fails the run", async () => {
      dir = mkdtempSync(join(tmpdir(), 'tacho-leak-case-'));
      app = await createTestApp(engine, {}, { logger: fileLogger(dir, true) });
      await recordAppSecrets(app, dir);
      const vaultKey = Buffer.from(loadVaultKey(app.config.encryption).key).toString('base64url');
      const row = await app.storage.db
        .selectFrom('settings')
        .select('value')
        .where('key', '=', SIGNING_KEY_SETTING)
        .executeTakeFirstOrThrow();
      const signingKey = await app.vault.open(row.value, {
        table: 'settings',
        column: 'value',
        rowId: SIGNING_KEY_SETTING,
      });
      expect(await findLeaks(dir)).toEqual([]);
      app.logger.info({ careless: vaultKey }, 'a line that should never be written');
      app.logger.info({ careless: signingKey }, 'nor this one');
      expect((await findLeaks(dir)).length).toBe(2);
    });
  });
}

describe('leak check', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds recorded secrets of any shape and unrecorded Tacho tokens, and nothing in clean lines', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-leak-case-'));
    const refresh = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5';
    const jwt =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMzQ1Njc4OTAiLCJzaWQiOiJsb2dpbi0xIn0.c2lnbmF0dXJlc2lnbmF0dXJl';
    recordSecrets([refresh, jwt], dir);
    const unrecorded = `tacho_${'Q'.repeat(43)}`;
    writeFileSync(
      join(dir, 'log-a.jsonl'),
      [
        '{"msg":"clean","reqId":"1b6f4a0e-2c55-4a7e-9d55-5f0c3f7e1c11"}',
        `{"msg":"cookie","value":"tacho_refresh=${refresh}; Path=/"}`,
        `{"msg":"jwt","auth":"Bearer ${jwt}"}`,
        `{"msg":"token","url":"/x?token=${unrecorded}"}`,
        '{"msg":"prefix only","prefix":"tacho_AbCdEf"}',
      ].join('\n'),
    );
    const leaks = await findLeaks(dir);
    expect(leaks.map((l) => l.line)).toEqual([2, 3, 4]);
  });
});
