import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const mainTs = fileURLToPath(new URL('../../main.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** The real server process, as `tacho serve` starts it. */
function start(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    env: { PATH: process.env.PATH, TACHO_LOG_LEVEL: 'info', TACHO_PORT: '0', TACHO_MQTT_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out + err, stderr: () => err, exit };
}

async function waitFor(check: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}

describe('the vault key at start (real process)', () => {
  const runs: Run[] = [];
  let dir: string;
  afterEach(() => {
    for (const run of runs.splice(0)) run.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a first start creates the key file and prints its path, never the key; another key then stops the start with one line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-vault-start-'));
    const first = start({ TACHO_DATA_DIR: dir });
    runs.push(first);
    await waitFor(() => first.output().includes('Tacho is running'));
    const keyFile = join(dir, 'secret.key');
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(first.output()).toContain(keyFile);
    expect(first.output()).toContain('created a new encryption key file');
    expect(first.output()).not.toContain(key);
    expect(first.output()).not.toContain(Buffer.from(key, 'base64').toString('hex'));
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);

    const wrong = randomBytes(32).toString('base64');
    const refused = start({ TACHO_DATA_DIR: dir, TACHO_ENCRYPTION_KEY: wrong });
    runs.push(refused);
    expect(await refused.exit).toBe(1);
    const lines = refused.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^tacho: the encryption key from TACHO_ENCRYPTION_KEY does not open the secrets in the database .*set TACHO_ENCRYPTION_KEY to the key they were sealed with$/,
    );
    expect(refused.output()).not.toContain(wrong);
    expect(refused.output()).not.toContain(key);

    const missing = start({ TACHO_DATA_DIR: dir, TACHO_ENCRYPTION_KEY_FILE: join(dir, 'gone.key') });
    runs.push(missing);
    expect(await missing.exit).toBe(1);
    expect(missing.stderr().trim()).toMatch(
      /^tacho: cannot read the encryption key file .*gone\.key named by TACHO_ENCRYPTION_KEY_FILE/,
    );

    const again = start({ TACHO_DATA_DIR: dir });
    runs.push(again);
    await waitFor(() => again.output().includes('Tacho is running'));
    expect(again.output()).not.toContain('created a new encryption key file');
    // Four real server starts, ~20 s each on a loaded two-core machine.
  }, 300_000);
});
