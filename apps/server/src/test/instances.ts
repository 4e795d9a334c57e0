import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, type AppOptions, createApp } from '../app.js';
import { loadConfig } from '../config.js';
import { openStorage } from '../db/index.js';
import { redisProblem, TEST_REDIS_URL } from '../features/live/bus.test-support.js';
import { engines, freshStorage, TEST_PG_URL } from './storage.js';

/** Why two instances cannot be run here (no PostgreSQL or Redis), or null. Under CI both are required. */
export async function clusterProblem(): Promise<string | null> {
  const problem = !engines.includes('postgres')
    ? `PostgreSQL at ${TEST_PG_URL} unreachable`
    : await redisProblem().then((p) => (p ? `Redis at ${TEST_REDIS_URL}: ${p}` : null));
  if (problem && process.env.CI === 'true') throw new Error(`${problem}: required under CI`);
  return problem;
}

export interface Cluster {
  readonly one: App;
  readonly two: App;
  /** Closes both instances and drops their schema. */
  dispose(): Promise<void>;
}

/**
 * Two instances of one deployment, as behind a load balancer: each with its own connection pool on one
 * PostgreSQL schema, its own embedded broker (`mqttPort` 0: any free port) and its own HTTP port, and a
 * Redis live bus under a prefix of their own (parallel runs never hear each other). `env` adds settings.
 */
export async function startCluster(
  options: AppOptions = {},
  env: Record<string, string> = {},
): Promise<Cluster> {
  const prefix = `test:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const first = await freshStorage('postgres');
  const second = await openStorage(
    { kind: 'postgres', url: TEST_PG_URL },
    { schema: first.schema!, poolSize: 5 },
  );
  const dirs: string[] = [];
  // One deployment, one vault key: every instance must open the secrets the others sealed.
  const encryptionKey = randomBytes(32).toString('base64');
  const start = (storage: typeof first | typeof second) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tacho-cluster-'));
    dirs.push(dataDir);
    const config = loadConfig(
      {
        TACHO_DATA_DIR: dataDir,
        TACHO_LOG_LEVEL: 'silent',
        TACHO_PORT: '0',
        TACHO_REDIS_URL: TEST_REDIS_URL,
        TACHO_ENCRYPTION_KEY: encryptionKey,
        ...env,
      },
      dataDir,
    );
    return createApp(config, {
      mqttPort: null,
      ...options,
      storage,
      live: { ...options.live, redisPrefix: prefix },
    });
  };
  const one = await start(first);
  const two = await start(second);
  return {
    one,
    two,
    async dispose() {
      await two.close();
      await one.close();
      await second.close();
      await first.drop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
