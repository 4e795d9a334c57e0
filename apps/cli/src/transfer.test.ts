import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestUser, type TestUser } from '../../server/src/features/auth/testing.js';
import { createTestApp, type TestApp } from '../../server/src/test/app.js';
import { Progress } from './transfer.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const VIN = '5YJ3E1EA7KF000319';
const OTHER = '5YJ3E1EA7KF000320';
const dir = mkdtempSync(join(tmpdir(), 'tacho-cli-transfer-'));
const entry = join(dir, 'tacho.mts');
writeFileSync(
  entry,
  `import { main } from ${JSON.stringify(join(root, 'apps/cli/src/main.ts'))};\nawait main(['node', 'tacho', ...JSON.parse(process.env.CLI_ARGS ?? '[]')]);\n`,
);

/** Runs `tacho <args>` from the sources with stderr a pipe (not a terminal), as in a script or a log. */
function runCli(args: string[], env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [join(root, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', join(root, 'tsconfig.check.json'), entry],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: dir, CLI_ARGS: JSON.stringify(args), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tacho ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('tacho export and import', { timeout: 90_000 }, () => {
  let app: TestApp;
  let base: string;
  let owner: TestUser;

  beforeEach(async () => {
    app = await createTestApp('sqlite');
    base = await app.listen();
    owner = await createTestUser(app, 'operator');
    for (const vin of [VIN, OTHER]) {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { vin, name: vin === VIN ? 'Blue Car' : 'Copy' },
      });
      expect(res.statusCode).toBe(201);
    }
    const start = Date.UTC(2026, 0, 10, 9);
    const messages = Array.from({ length: 200 }, (_, i) => ({
      ts: start + i * 10_000,
      metrics: { speed_kmh: 40, battery_level_pct: 70 },
      position: { lat: 52.5 + i * 0.0005, lon: 13.4, alt_m: 35 },
    }));
    const res = await app.http.inject({
      method: 'POST',
      url: `/api/v1/vehicles/${VIN}/telemetry`,
      headers: owner.headers,
      payload: messages,
    });
    expect(res.json()).toMatchObject({ stored: 200 });
  });
  afterEach(async () => {
    await app.dispose();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exports a range as GPX to a file, and imports it into another vehicle as a recording', async () => {
    const env = { TACHO_TOKEN: owner.token };
    const file = join(dir, 'january.gpx');
    const out = await runCli(
      [
        'export',
        VIN,
        '--format',
        'gpx',
        '--from',
        '2026-01-01',
        '--to',
        '2026-02-01',
        '-o',
        file,
        '--url',
        base,
      ],
      env,
    );
    expect(out.code, out.stderr).toBe(0);
    // Not a terminal: a quiet progress line (bytes, rate), then where it went.
    expect(out.stderr).toMatch(
      /^export tacho-5YJ3E1EA7KF000319-2026-01-01_2026-02-01\.gpx: [\d.]+ KiB \([\d.]+ [KM]?i?B\/s\)\nwrote /,
    );
    const gpx = readFileSync(file, 'utf8');
    expect(gpx.match(/<trkpt /g)).toHaveLength(200);

    const imported = await runCli(['import', OTHER, file, '--url', base], env);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(/^import january\.gpx: [\d.]+ KiB of [\d.]+ KiB/);
    expect(imported.stdout).toBe(
      'imported january.gpx into Copy: 200 samples stored, 0 duplicates, 0 refused, 0 events, 1 sessions created\n',
    );
    const again = await runCli(['import', OTHER, file, '--url', base, '--json'], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ stored: 0, duplicates: 200, sessionsCreated: 0 });

    const bad = join(dir, 'bad.gpx');
    writeFileSync(bad, '<gpx><trk>');
    const refused = await runCli(['import', OTHER, bad, '--url', base], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/tacho: GPX: the root element is <gpx>|tacho: GPX is not well-formed XML/);
  });

  it("--units: a CSV in the user's units by default, in the stored ones with --units stored", async () => {
    const env = { TACHO_TOKEN: owner.token };
    const prefs = await app.http.inject({
      method: 'PUT',
      url: '/api/v1/auth/me/preferences',
      headers: owner.headers,
      payload: { distance: 'mi', temperature: 'c', pressure: 'kpa' },
    });
    expect(prefs.statusCode).toBe(200);
    const args = ['export', VIN, '--format', 'csv', '--metrics', 'speed_kmh', '--url', base];
    const preferred = await runCli(args, env);
    expect(preferred.code, preferred.stderr).toBe(0);
    const [head, first] = preferred.stdout.split('\r\n');
    expect(head).toBe('ts_iso,ts_ms,lat,lon,alt_m,speed_mph');
    expect(Number(first!.split(',')[5])).toBeCloseTo(40 / 1.609344, 6);
    const stored = await runCli([...args, '--units', 'stored'], env);
    expect(stored.code, stored.stderr).toBe(0);
    expect(stored.stdout.split('\r\n')[0]).toBe('ts_iso,ts_ms,lat,lon,alt_m,speed_kmh');
    expect(stored.stdout.split('\r\n')[1]!.split(',')[5]).toBe('40');
    const bad = await runCli([...args, '--units', 'imperial'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--units must be one of preferred, stored, got "imperial"');
  });

  it('draws a progress bar with the rate and ETA when stderr is a terminal', () => {
    let screen = '';
    const tty = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          screen += chunk;
          done();
        },
      }),
      {
        isTTY: true,
        columns: 120,
        cursorTo: (_x: number, _y?: number) => true,
        clearLine: () => true,
        moveCursor: () => true,
      },
    );
    const progress = new Progress('import big.gpx', 4 * 1024 * 1024, tty as unknown as NodeJS.WriteStream);
    progress.add(1024 * 1024);
    progress.add(1024 * 1024);
    progress.stop();
    expect(screen).toMatch(
      /import big\.gpx \[[=-]+\] 50% \| 2\.0 MiB of 4\.0 MiB \| [\d.]+ [KMG]?i?B\/s \| ETA /,
    );
  });
});
