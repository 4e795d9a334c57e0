import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, createApp, loadConfig } from '@tacho/server';

export interface RunningServer {
  readonly app: App;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A real server on loopback: random HTTP and MQTT ports, SQLite in a temporary data directory, the first
 * admin from TACHO_ADMIN_EMAIL/PASSWORD, and the dashboard as built in apps/web/dist.
 */
export async function startServer(env: Record<string, string>): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-e2e-'));
  // The port must be known up front: the public URL (and with it the Origin check) names it.
  const port = await freePort();
  const config = loadConfig(
    {
      TACHO_DATA_DIR: dataDir,
      TACHO_HOST: '127.0.0.1',
      TACHO_PORT: String(port),
      TACHO_PUBLIC_URL: `http://127.0.0.1:${port}`,
      TACHO_LOG_LEVEL: 'warn',
      // No request leaves the machine in tests: the map shows its plain background.
      TACHO_MAP_TILES: 'http://127.0.0.1:9/{z}/{x}/{y}.png',
      ...env,
    },
    dataDir,
  );
  const app = await createApp(config, { mqttPort: 0 });
  const url = await app.listen();
  return {
    app,
    url,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
