import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, type AppOptions, createApp } from '../app.js';
import { loadConfig } from '../config.js';
import type { Engine } from '../db/index.js';
import { recordAppSecrets, testLogger } from './log-leaks.js';
import { freshStorage } from './storage.js';

export interface TestApp extends App {
  /** Closes the app and drops its database and data directory. */
  dispose(): Promise<void>;
}

/**
 * A whole server on a fresh database of the given engine, not listening (use `app.http.inject`), with no
 * MQTT TCP listener unless `options.mqttPort` asks for one. `env` adds or overrides TACHO_* settings.
 * Every JSON reply is checked against its route's response schema (`checkReplies`).
 * In a test run it logs into the run's log directory and records the secrets it issues (log-leaks.ts).
 */
export async function createTestApp(
  engine: Engine,
  env: Record<string, string> = {},
  options: AppOptions = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-test-'));
  const storage = await freshStorage(engine);
  const config = loadConfig(
    { TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0', ...env },
    dataDir,
  );
  const logger = options.logger ?? testLogger();
  const app = await createApp(config, {
    mqttPort: null,
    checkReplies: true,
    ...options,
    ...(logger ? { logger } : {}),
    storage,
  });
  await recordAppSecrets(app);
  return Object.assign(app, {
    async dispose() {
      await app.close();
      await storage.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
