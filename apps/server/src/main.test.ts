import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const mainTs = fileURLToPath(new URL('./main.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    env: { PATH: process.env.PATH, TACHO_LOG_LEVEL: 'warn', ...env },
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
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

async function waitFor(check: () => Promise<boolean> | boolean, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}

const runs: Run[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) run.child.kill('SIGKILL');
  for (const server of blockers.splice(0)) server.close();
});

function dataDir(): string {
  return mkdtempSync(join(tmpdir(), 'tacho-main-'));
}

// Real server processes: a start takes ~20 s on a loaded two-core machine.
describe('starting the server', { timeout: 180_000 }, () => {
  it('serves /health, then shuts down gracefully on SIGTERM with exit code 0', async () => {
    const port = await freePort();
    const run = start({
      TACHO_PORT: String(port),
      TACHO_MQTT_PORT: String(await freePort()),
      TACHO_DATA_DIR: dataDir(),
    });
    runs.push(run);
    await waitFor(() => run.stdout().includes('Tacho is running'));
    expect(run.stdout()).toContain(`http://127.0.0.1:${port}/`);
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(await res.json()).toEqual({ status: 'ok' });
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
  });

  it.each([
    [{ TACHO_PORT: 'abc' }, 'TACHO_PORT must be a port number, got "abc"'],
    [
      { TACHO_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      'cannot reach PostgreSQL at postgres://nobody@127.0.0.1:1/none',
    ],
  ])('stops with one clear line and a non-zero exit for %j', async (env, message) => {
    const run = start({ TACHO_DATA_DIR: dataDir(), TACHO_MQTT_PORT: '0', ...env });
    runs.push(run);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr().trim()).toBe(
      `tacho: ${run
        .stderr()
        .trim()
        .replace(/^tacho: /, '')}`,
    );
    expect(run.stderr()).toContain(message);
    expect(run.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('stops with a clear line when the data directory cannot be written', async () => {
    // A regular file where a directory should be: unwritable even for root, which ignores permissions.
    const parent = dataDir();
    writeFileSync(join(parent, 'not-a-directory'), '');
    const run = start({ TACHO_DATA_DIR: join(parent, 'not-a-directory', 'data'), TACHO_MQTT_PORT: '0' });
    runs.push(run);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toMatch(/^tacho: cannot (create|open) .*TACHO_DATA_DIR/);
  });

  it('stops with a clear line when the HTTP port is taken', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const run = start({ TACHO_PORT: String(port), TACHO_MQTT_PORT: '0', TACHO_DATA_DIR: dataDir() });
    runs.push(run);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toContain(`tacho: TACHO_PORT ${port} is already in use on 127.0.0.1`);
  });

  it('keeps serving with a clear warning when the MQTT port is taken', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const mqttPort = typeof address === 'object' && address ? address.port : 0;
    const port = await freePort();
    const run = start({
      TACHO_PORT: String(port),
      TACHO_MQTT_PORT: String(mqttPort),
      TACHO_DATA_DIR: dataDir(),
    });
    runs.push(run);
    await waitFor(() => run.stdout().includes('Tacho is running'));
    expect(run.stderr()).toContain(`tacho: warning: TACHO_MQTT_PORT ${mqttPort} is already in use`);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  });
});
