import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestUser, type TestUser } from '../../server/src/features/auth/testing.js';
import { createTestApp, type TestApp } from '../../server/src/test/app.js';
import { credentialsPath, readCredentials, writeCredentials } from './credentials.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const VIN = '5YJ3E1EA7KF000301';

let entryPath: string | null = null;
/** A one-line entry point that runs the CLI's sources as `tacho` (tsx maps @tacho/* to the sources). */
function entry(): string {
  if (!entryPath) {
    entryPath = join(mkdtempSync(join(tmpdir(), 'tacho-cli-entry-')), 'tacho.mts');
    writeFileSync(
      entryPath,
      `import { main } from ${JSON.stringify(join(root, 'apps/cli/src/main.ts'))};\nawait main(['node', 'tacho', ...JSON.parse(process.env.CLI_ARGS ?? '[]')]);\n`,
    );
  }
  return entryPath;
}

/** Runs `tacho <args>` from the sources, as a user would run the built command. */
function startCli(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(
    process.execPath,
    [join(root, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', join(root, 'tsconfig.check.json'), entry()],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: env.HOME ?? tmpdir(),
        CLI_ARGS: JSON.stringify(args),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<Result>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tacho ${args.join(' ')} did not finish; stdout: ${stdout} stderr: ${stderr}`));
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    done,
    get output() {
      return stdout;
    },
  } as { child: ChildProcess; done: Promise<Result> };
}
interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}
const runCli = (args: string[], env: Record<string, string>) => startCli(args, env).done;

// Each test starts the CLI (a Node process compiling TypeScript) once or twice: give them room on a busy machine.
describe('tacho vehicles, state, watch', { timeout: 90_000 }, () => {
  let app: TestApp;
  let base: string;
  let owner: TestUser;
  let home: string;

  beforeEach(async () => {
    app = await createTestApp('sqlite');
    base = await app.listen();
    owner = await createTestUser(app, 'operator');
    home = mkdtempSync(join(tmpdir(), 'tacho-cli-'));
    const res = await app.http.inject({
      method: 'POST',
      url: '/api/v1/vehicles',
      headers: owner.headers,
      payload: { vin: VIN, name: 'Blue Car' },
    });
    expect(res.statusCode).toBe(201);
    await publish([
      { ts: Date.now() - 5000, metrics: { battery_level_pct: 81, range_km: 320.5, ignition: true } },
    ]);
  });
  afterEach(async () => {
    await app.dispose();
    rmSync(home, { recursive: true, force: true });
  });
  afterAll(() => {
    if (entryPath) rmSync(join(entryPath, '..'), { recursive: true, force: true });
  });

  async function publish(messages: unknown[]) {
    const res = await app.http.inject({
      method: 'POST',
      url: `/api/v1/vehicles/${VIN}/telemetry`,
      headers: owner.headers,
      payload: messages,
    });
    expect(res.statusCode).toBe(200);
  }

  it('records by hand: tacho record start, then stop prints the recording with its distance', async () => {
    const env = { TACHO_TOKEN: owner.token, HOME: home };
    const started = await runCli(['record', 'start', VIN, '--name', 'Errand', '--url', base], env);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^recording [0-9a-f-]{36} of Blue Car started at \d{4}-\d\d-\d\dT/);
    const again = await runCli(['record', 'start', VIN, '--url', base], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already running/);
    const now = Date.now();
    await publish([
      { ts: now - 500, metrics: { odometer_km: 100 } },
      { ts: now, metrics: { odometer_km: 102.5 } },
    ]);
    const stopped = await runCli(['record', 'stop', VIN, '--url', base, '--json'], env);
    expect(stopped.stderr).toBe('');
    expect(stopped.code).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({
      kind: 'manual',
      name: 'Errand',
      stats: { distance_km: 2.5 },
    });
    const none = await runCli(['record', 'stop', VIN, '--url', base], env);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no recording of Blue Car is running/);
  });

  it('lists vehicles with status, battery and range, using TACHO_TOKEN and --url', async () => {
    const { code, stdout, stderr } = await runCli(['vehicles', '--url', base], {
      TACHO_TOKEN: owner.token,
      HOME: home,
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const [header, row] = stdout.trim().split('\n');
    expect(header).toMatch(/^NAME\s+VIN\s+STATUS\s+BATTERY\s+RANGE\s+LAST SEEN$/);
    expect(row).toMatch(new RegExp(`^Blue Car\\s+${VIN}\\s+online\\s+81 %\\s+320.5 km\\s+\\d+ s ago$`));
  });

  it('shows the state of a vehicle by VIN, as a table or JSON, with the saved login', async () => {
    const env = { XDG_CONFIG_HOME: join(home, 'config'), HOME: home };
    const path = writeCredentials({ url: base, token: owner.token }, env);
    expect(path).toBe(join(home, 'config', 'tacho', 'credentials.json'));
    expect(readCredentials(env)).toEqual({ url: base, token: owner.token });

    const table = await runCli(['state', VIN.toLowerCase()], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`Blue Car (${VIN}) — online, last seen`);
    expect(table.stdout).toMatch(/battery_level_pct\s+81 %/);
    expect(table.stdout).toMatch(/ignition\s+on/);

    const json = await runCli(['state', VIN, '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({
      connectivity: 'online',
      metrics: { range_km: { value: 320.5 } },
    });
  });

  it('says what is missing in one line when there is no token or no such vehicle', async () => {
    const none = await runCli(['vehicles', '--url', base], {
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'none'),
    });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      `tacho: no token: set TACHO_TOKEN to an API token (create one in the dashboard under Settings), or save a login in ${credentialsPath({ XDG_CONFIG_HOME: join(home, 'none') })}\n`,
    );
    const missing = await runCli(['state', 'WVWZZZ1JZXW000001', '--url', base], {
      TACHO_TOKEN: owner.token,
      HOME: home,
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('tacho: no vehicle with VIN or id WVWZZZ1JZXW000001 that you may see\n');
  });

  it('watches a vehicle live and redraws when values change', async () => {
    const run = startCli(['watch', VIN, '--url', base, '--updates', '2'], {
      TACHO_TOKEN: owner.token,
      HOME: home,
    });
    const out = run as unknown as { output: string };
    // Wait for the first frame (the snapshot), then send two changes.
    const deadline = Date.now() + 15_000;
    while (!out.output.includes('battery_level_pct') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(out.output).toMatch(/battery_level_pct\s+81 %/);
    await publish([{ ts: Date.now(), metrics: { battery_level_pct: 80 } }]);
    await publish([{ ts: Date.now() + 1, metrics: { battery_level_pct: 79, speed_kmh: 42 } }]);
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    const frames = stdout.trim().split('\n\n');
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames.at(-1)).toMatch(/battery_level_pct\s+79 %/);
    expect(frames.at(-1)).toMatch(/speed_kmh\s+42 km\/h/);
    expect(frames.at(-1)).toContain('[open]');
  });
});
