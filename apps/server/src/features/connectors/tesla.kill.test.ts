import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TeslaAccountList } from '@tacho/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../lib/clock.js';
import { FakeTesla } from '../../test/fake-tesla.js';
import { waitUntil } from '../telemetry/fault-helpers.js';
import { INTERRUPTED_REASON } from './tesla-tokens.js';

const mainTs = fileURLToPath(new URL('../../main.ts', import.meta.url));
const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const VIN = '5YJ3E1EA7KF000017';

interface Server {
  child: ChildProcess;
  url: () => string | null;
  exit: Promise<number | null>;
}

/** The real server process, as `tacho serve` starts it. */
function serve(env: Record<string, string>): Server {
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    env: { PATH: process.env.PATH, TACHO_LOG_LEVEL: 'info', TACHO_PORT: '0', TACHO_MQTT_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, url: () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? null, exit };
}

/** A browser's login to one server: its cookies, and the Origin its pages send. */
async function login(base: string): Promise<(path: string, init?: RequestInit) => Promise<Response>> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify(admin),
  });
  expect(res.status).toBe(200);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return (path, init = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      redirect: 'manual',
      headers: { cookie, origin: base, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    });
}

/**
 * A real server process killed (SIGKILL) after Tesla accepted a refresh and before its answer reached
 * the server: Tesla has spent the old refresh token, Tacho never stored the new one. The next server on
 * the same data retries the pending token once (after the dead process's refresh lock has run out) and,
 * Tesla refusing it, shows the account as "sign in to Tesla again", still serving everything else.
 */
describe('Tesla refresh across kill -9 (real process)', () => {
  const servers: Server[] = [];
  let fake: FakeTesla | null = null;
  let dir = '';
  afterEach(async () => {
    for (const s of servers.splice(0)) s.child.kill('SIGKILL');
    await fake?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a refresh whose answer the killed server never stored: retried once by the next, then "sign in again"', {
    timeout: 240_000,
  }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-tesla-kill-'));
    // Access tokens that need a refresh 20 s after they are issued (Tacho refreshes 10 min ahead).
    fake = new FakeTesla({
      clock: systemClock,
      clientId: 'tacho-kill',
      clientSecret: 'kill-test-secret',
      accessTtlS: 620,
    });
    await fake.start();
    fake.addCar({ id: '3744582737186151', vin: VIN, displayName: 'Red', state: 'asleep' });
    const env = {
      TACHO_DATA_DIR: dir,
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      ...fake.env(),
      // The sleeping car's list once a minute, not spread over the day's budget.
      TACHO_TESLA_DAILY_REQUESTS: '100000',
    };

    const first = serve(env);
    servers.push(first);
    await waitUntil('the first server listens', () => first.url() !== null, 60_000);
    const base = first.url()!;
    const call = await login(base);
    const start = (await (await call('/api/v1/connectors/tesla/start')).json()) as { url: string };
    const back = new URL((await fetch(start.url, { redirect: 'manual' })).headers.get('location')!);
    const callback = await call(`${back.pathname}${back.search}`);
    expect(callback.headers.get('location')).toMatch(/tesla=connected/);
    const accounts = (await (await call('/api/v1/connectors/tesla/accounts')).json()) as TeslaAccountList;
    const accountId = accounts.items[0]!.id;
    const added = await call(`/api/v1/connectors/tesla/accounts/${accountId}/vehicles`, {
      method: 'POST',
      body: JSON.stringify({ vin: VIN }),
    });
    expect(added.status).toBe(201);

    // The poller's refresh reaches Tesla, which rotates; the server dies before it hears the answer.
    let killed = false;
    fake.onRefreshAccepted = async () => {
      if (killed) return;
      killed = true;
      first.child.kill('SIGKILL');
      await first.exit;
    };
    await waitUntil('the refresh is sent and the server killed', () => killed, 90_000);
    expect(fake.counts.refresh).toBe(1);
    fake.onRefreshAccepted = null;

    const second = serve(env);
    servers.push(second);
    await waitUntil('the second server listens', () => second.url() !== null, 60_000);
    const again = await login(second.url()!);
    let state: TeslaAccountList['items'][number] | undefined;
    await waitUntil(
      'the account says to sign in again',
      async () => {
        const list = (await (await again('/api/v1/connectors/tesla/accounts')).json()) as TeslaAccountList;
        state = list.items[0];
        return state?.state === 'reauth_needed';
      },
      120_000,
    );
    expect(state).toMatchObject({ id: accountId, stateReason: INTERRUPTED_REASON });
    // Exactly one retry with the spent token, and the car was never woken.
    expect(fake.counts.refresh).toBe(2);
    expect(fake.counts.wake_up).toBe(0);
    expect((await again('/api/v1/vehicles')).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });
});
