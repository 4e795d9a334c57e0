import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../app.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../lib/logger.js';

/** The permission bits of a path, as an octal string ('700'). */
const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The whole server on the SQLite database in `dataDir`, its warnings collected as parsed log lines. */
async function start(dataDir: string): Promise<{ app: App; warnings: Array<Record<string, unknown>> }> {
  const warnings: Array<Record<string, unknown>> = [];
  const logger = createLogger('warn', { write: (line: string) => warnings.push(JSON.parse(line)) });
  const app = await createApp(
    loadConfig({ TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'warn', TACHO_PORT: '0' }, dataDir),
    { logger, mqttPort: null },
  );
  cleanup.push(() => app.close());
  return { app, warnings };
}

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'tacho-perm-'));
  cleanup.push(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

describe('data directory and database file permissions (the database holds the cookie signing key)', () => {
  it('a fresh start creates the data directory 0700 and the database, its WAL and SHM 0600, and warns of nothing', async () => {
    const root = tempRoot();
    const dataDir = join(root, 'state', 'data');
    const { warnings } = await start(dataDir);

    const db = join(dataDir, 'tacho.db');
    expect(modeOf(dataDir)).toBe('700');
    // Every directory created on the way is private too.
    expect(modeOf(join(root, 'state'))).toBe('700');
    for (const file of [db, `${db}-wal`, `${db}-shm`]) {
      expect(existsSync(file), file).toBe(true);
      expect(modeOf(file), file).toBe('600');
    }
    expect(warnings.filter((w) => String(w.msg).includes('has mode'))).toEqual([]);
  });

  it('a start on a directory and database that other accounts can read warns once for each, naming the path', async () => {
    const dataDir = join(tempRoot(), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const db = join(dataDir, 'tacho.db');
    // An empty file is a new database to SQLite: the state an older version left behind.
    writeFileSync(db, '');
    chmodSync(db, 0o644);

    const { warnings } = await start(dataDir);
    const lines = warnings.filter((w) => w.level === 'warn' && String(w.msg).includes('has mode'));
    const about = (path: string) => lines.filter((w) => w.path === path);
    expect(about(dataDir)).toHaveLength(1);
    expect(String(about(dataDir)[0]?.msg)).toContain(`${dataDir} has mode 0755`);
    expect(String(about(dataDir)[0]?.msg)).toContain(`chmod 700 ${dataDir}`);
    expect(about(db)).toHaveLength(1);
    expect(String(about(db)[0]?.msg)).toContain(`${db} has mode 0644`);
    expect(String(about(db)[0]?.msg)).toContain(`chmod 600 ${db}`);
    // Left as they were: the operator may have widened them on purpose (a backup account's group).
    expect(modeOf(dataDir)).toBe('755');
    expect(modeOf(db)).toBe('644');
  });
});
