import { CLI_LOGIN_PATH, type CliLoginServerMessage } from '@tacho/protocol';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { App } from '../../app.js';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { type Cluster, clusterProblem, startCluster } from '../../test/instances.js';
import { recordSecrets } from '../../test/log-leaks.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { waitUntil } from '../telemetry/fault-helpers.js';

/** A socket as `tacho login` opens it, with every message it got. */
class CliSocket {
  readonly messages: CliLoginServerMessage[] = [];
  closeCode: number | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as CliLoginServerMessage));
    ws.on('close', (code) => {
      this.closeCode = code;
    });
  }
  static async open(base: string, query = '?host=laptop&os=linux&version=0.1.0'): Promise<CliSocket> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${CLI_LOGIN_PATH}${query}`);
    const socket = new CliSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }
  async next<T extends CliLoginServerMessage['type']>(
    type: T,
  ): Promise<Extract<CliLoginServerMessage, { type: T }>> {
    await waitUntil(`a ${type} message`, () => this.messages.some((m) => m.type === type), 10_000);
    return this.messages.find((m) => m.type === type) as Extract<CliLoginServerMessage, { type: T }>;
  }
  async closed(): Promise<number> {
    await waitUntil('the socket closed', () => this.closeCode !== null, 10_000);
    return this.closeCode!;
  }
}

const PUBLIC = 'http://127.0.0.1:18081';

for (const engine of engines) {
  describe(`tacho login through the browser [${engine}]`, () => {
    let app: TestApp;
    let base: string;
    let user: TestUser;
    let cookie: string;
    let lines: string[];
    let nowMs: number;
    const sockets: CliSocket[] = [];

    beforeEach(async () => {
      lines = [];
      nowMs = Date.now();
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      app = await createTestApp(
        engine,
        { TACHO_PUBLIC_URL: PUBLIC },
        { logger, clock: { now: () => nowMs } },
      );
      base = await app.listen();
      user = await createTestUser(app, 'operator');
      const login = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
      });
      cookie = login.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    });
    afterEach(async () => {
      for (const s of sockets.splice(0)) s.ws.terminate();
      await app.dispose();
    });
    const open = async (query?: string) => {
      const socket = await CliSocket.open(base, query);
      sockets.push(socket);
      return socket;
    };
    /** What the page does: the same-origin POST of a signed-in browser. */
    const decide = (connectionId: string, action: 'confirm' | 'deny', payload: object = {}, headers = {}) =>
      app.http.inject({
        method: 'POST',
        url: `/api/v1/cli-login/${encodeURIComponent(connectionId)}/${action}`,
        headers: { cookie, origin: PUBLIC, ...headers },
        payload,
      });
    const poll = (connectionId: string, resumeSecret: string) =>
      app.http.inject({
        method: 'POST',
        url: '/api/v1/cli-login/token',
        payload: { connectionId, resumeSecret },
      });

    it('sends the connection message, then the token once after the browser confirms the code', async () => {
      const cli = await open();
      const hello = await cli.next('connection');
      expect(hello.connectionId).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
      expect(hello.userCode).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{8}$/);
      expect(hello.verificationUrl).toBe(`${PUBLIC}/cli-login?c=${hello.connectionId}`);
      expect(hello.expiresInS).toBe(600);
      expect(hello.resumeSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const page = await app.http.inject({
        method: 'GET',
        url: `/api/v1/cli-login/${hello.connectionId}`,
        headers: { cookie },
      });
      expect(page.json()).toMatchObject({
        userCode: hello.userCode,
        client: { host: 'laptop', os: 'linux', version: '0.1.0' },
        status: 'pending',
        scopes: ['read', 'write'],
        tokenDays: 90,
      });
      // The wrong code, a bearer token instead of the browser, another site: refused, nothing happens.
      expect((await decide(hello.connectionId, 'confirm', { userCode: 'XXXXXXXX' })).json()).toMatchObject({
        error: { code: 'wrong_code' },
      });
      const bearer = await app.http.inject({
        method: 'POST',
        url: `/api/v1/cli-login/${hello.connectionId}/confirm`,
        headers: user.headers,
        payload: { userCode: hello.userCode },
      });
      expect([bearer.statusCode, bearer.json().error.code]).toEqual([403, 'browser_only']);
      const crossSite = await decide(
        hello.connectionId,
        'confirm',
        { userCode: hello.userCode },
        { origin: 'https://evil.example' },
      );
      expect(crossSite.statusCode).toBe(403);

      const code = `${hello.userCode.slice(0, 4)}-${hello.userCode.slice(4).toLowerCase()}`;
      expect((await decide(hello.connectionId, 'confirm', { userCode: code })).statusCode).toBe(200);
      const success = await cli.next('auth:success');
      recordSecrets([success.token]);
      expect(success.user).toMatchObject({ id: user.id, email: user.email });
      expect(await cli.closed()).toBe(1000);
      const vehicles = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${success.token}` },
      });
      expect(vehicles.statusCode).toBe(200);
      const tokens = await app.http.inject({ method: 'GET', url: '/api/v1/tokens', headers: { cookie } });
      const cli2 = (
        tokens.json() as Array<{ name: string; cliHost: string | null; scopes: string[]; expiresMs: number }>
      ).find((t) => t.cliHost === 'laptop');
      expect(cli2).toMatchObject({ name: 'CLI on laptop', scopes: ['read', 'write'] });
      expect(cli2!.expiresMs - nowMs).toBe(90 * 86_400_000);
      // A second confirmation fails; the token went out once and is nowhere in the logs.
      expect((await decide(hello.connectionId, 'confirm', { userCode: hello.userCode })).statusCode).toBe(
        409,
      );
      expect(cli.messages.filter((m) => m.type === 'auth:success')).toHaveLength(1);
      expect(lines.join('\n')).not.toContain(success.token);
      // `tacho logout`: the token revokes itself.
      const logout = await app.http.inject({
        method: 'DELETE',
        url: '/api/v1/tokens/current',
        headers: { authorization: `Bearer ${success.token}` },
      });
      expect(logout.statusCode).toBe(204);
      const after = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${success.token}` },
      });
      expect(after.statusCode).toBe(401);
    });

    it('tells the CLI when the browser denies, and the attempt is over', async () => {
      const cli = await open();
      const hello = await cli.next('connection');
      expect((await decide(hello.connectionId, 'deny')).statusCode).toBe(200);
      await cli.next('auth:denied');
      expect(await cli.closed()).toBe(1000);
      expect((await poll(hello.connectionId, hello.resumeSecret)).json()).toMatchObject({
        error: { code: 'access_denied' },
      });
      expect((await decide(hello.connectionId, 'confirm', { userCode: hello.userCode })).statusCode).toBe(
        409,
      );
    });

    it('a CLI that closes its socket ends the attempt', async () => {
      const cli = await open();
      const hello = await cli.next('connection');
      cli.ws.close(1000);
      await cli.closed();
      await waitUntil('attempt ended', async () => {
        const res = await decide(hello.connectionId, 'confirm', { userCode: hello.userCode });
        return res.statusCode === 404;
      });
    });

    it('resumes over a new socket after a drop, with the resume secret; a wrong secret is refused', async () => {
      const first = await open();
      const hello = await first.next('connection');
      first.ws.terminate(); // no close frame: a dropped connection
      const wrong = await open();
      await wrong.next('connection');
      wrong.ws.send(
        JSON.stringify({ type: 'resume', connectionId: hello.connectionId, resumeSecret: 'nope' }),
      );
      expect((await wrong.next('error')).code).toBe('invalid_grant');
      const again = await open();
      await again.next('connection');
      again.ws.send(
        JSON.stringify({
          type: 'resume',
          connectionId: hello.connectionId,
          resumeSecret: hello.resumeSecret,
        }),
      );
      await again.next('resumed');
      expect((await decide(hello.connectionId, 'confirm', { userCode: hello.userCode })).statusCode).toBe(
        200,
      );
      const success = await again.next('auth:success');
      recordSecrets([success.token]);
      expect(success.user.id).toBe(user.id);
    });

    it('holds one address to 20 open login sockets: the 21st is refused without a row', async () => {
      const open20 = await Promise.all(Array.from({ length: 20 }, () => open()));
      await Promise.all(open20.map((s) => s.next('connection')));
      const extra = await open();
      expect((await extra.next('error')).code).toBe('too_many');
      expect(await extra.closed()).toBe(1008);
      const rows = await app.storage.db.selectFrom('cli_logins').select('id').execute();
      expect(rows).toHaveLength(20);
      // One closes: there is room again.
      open20[0]!.ws.close(1000);
      await open20[0]!.closed();
      await waitUntil('room for one more', async () => {
        const again = await open();
        await waitUntil('an answer', () => again.messages.length > 0);
        return again.messages[0]!.type === 'connection';
      });
    });

    it('falls back to polling (RFC 8628): pending, slow_down, the token once, then nothing; expiry', async () => {
      const cli = await open();
      const hello = await cli.next('connection');
      cli.ws.terminate();
      expect((await poll(hello.connectionId, hello.resumeSecret)).json()).toMatchObject({
        error: { code: 'authorization_pending' },
      });
      const tooSoon = await poll(hello.connectionId, hello.resumeSecret);
      expect([tooSoon.statusCode, tooSoon.json().error.code]).toEqual([400, 'slow_down']);
      expect((await poll(hello.connectionId, 'wrong secret')).json()).toMatchObject({
        error: { code: 'invalid_grant' },
      });
      await decide(hello.connectionId, 'confirm', { userCode: hello.userCode });
      nowMs += 10_000; // the interval grew to 10 s
      const got = await poll(hello.connectionId, hello.resumeSecret);
      expect(got.statusCode).toBe(200);
      recordSecrets([(got.json() as { token: string }).token]);
      expect(got.json()).toMatchObject({ user: { id: user.id } });
      nowMs += 20_000;
      expect((await poll(hello.connectionId, hello.resumeSecret)).json()).toMatchObject({
        error: { code: 'invalid_grant' },
      });

      const late = await open();
      const lateHello = await late.next('connection');
      nowMs += 10 * 60_000 + 1;
      expect((await poll(lateHello.connectionId, lateHello.resumeSecret)).json()).toMatchObject({
        error: { code: 'expired_token' },
      });
      expect(
        (await decide(lateHello.connectionId, 'confirm', { userCode: lateHello.userCode })).json(),
      ).toMatchObject({ error: { code: 'expired' } });
    });
  });
}

const problem = await clusterProblem();
if (problem) console.warn(`[tests] skipping the two-instance CLI login run: ${problem}`);

describe.skipIf(problem !== null)(
  'tacho login with the socket and the confirmation on different instances',
  () => {
    let cluster: Cluster;
    beforeAll(async () => {
      // No periodic re-check: only the live bus can carry the decision across.
      cluster = await startCluster({ cliLoginRecheckMs: 3_600_000 });
    });
    afterAll(async () => {
      await cluster?.dispose();
    });

    it('sends the token over the socket on instance one when instance two takes the confirmation', async () => {
      const base = await cluster.one.listen();
      const two: App = cluster.two;
      const user = await createTestUser(two, 'viewer');
      const login = await two.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
      });
      const cookie = login.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      const cli = await CliSocket.open(base);
      try {
        const hello = await cli.next('connection');
        const confirmed = await two.http.inject({
          method: 'POST',
          url: `/api/v1/cli-login/${hello.connectionId}/confirm`,
          headers: { cookie },
          payload: { userCode: hello.userCode },
        });
        expect(confirmed.statusCode).toBe(200);
        const success = await cli.next('auth:success');
        recordSecrets([success.token]);
        const me = await two.http.inject({
          method: 'GET',
          url: '/api/v1/auth/me',
          headers: { authorization: `Bearer ${success.token}` },
        });
        expect(me.json()).toMatchObject({ id: user.id });
      } finally {
        cli.ws.terminate();
      }
    });
  },
);
