import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Alert, AlertDeliveryList, AlertPage, AlertRule } from '@tacho/protocol';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { SmtpSink } from '../../test/smtp-sink.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { TestSocket } from '../live/test-socket.js';
import { waitUntil } from '../telemetry/fault-helpers.js';

const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const VIN = '5YJ3E1EA7KF000017';

/** A real HTTP receiver on loopback: answers each request with what `answer` says, and keeps it. */
class Receiver {
  readonly requests: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
  answer: (res: ServerResponse) => void = (res) => res.writeHead(204).end();
  private constructor(private readonly server: Server) {}
  static async start(): Promise<Receiver> {
    let receiver: Receiver | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        receiver!.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        receiver!.answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new Receiver(server);
    return receiver;
  }
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

for (const engine of engines) {
  describe(`alerts [${engine}]`, () => {
    let smtp: SmtpSink;
    let receiver: Receiver;
    let app: TestApp;
    let clock: ManualClock;
    let admin: TestUser;
    let operator: TestUser;
    let viewer: TestUser;
    let vehicleId: string;

    beforeAll(async () => {
      smtp = await SmtpSink.start();
      receiver = await Receiver.start();
    });
    afterAll(async () => {
      await smtp.close();
      await receiver.close();
    });
    beforeEach(async () => {
      smtp.received.length = 0;
      receiver.requests.length = 0;
      receiver.answer = (res) => res.writeHead(204).end();
      clock = new ManualClock(T0 + 3_600_000);
      app = await createTestApp(
        engine,
        {
          TACHO_SMTP_URL: smtp.url,
          TACHO_SMTP_FROM: 'Tacho <alerts@tacho.test>',
          TACHO_PUBLIC_URL: 'https://tacho.test',
        },
        { clock },
      );
      admin = await createTestUser(app, 'admin');
      operator = await createTestUser(app, 'operator');
      viewer = await createTestUser(app, 'viewer');
      const res = await call<{ id: string }>('POST', '/api/v1/vehicles', operator, {
        vin: VIN,
        name: 'Blue Model 3',
      });
      expect(res.status).toBe(201);
      vehicleId = res.body.id;
      expect(
        (
          await call('POST', `/api/v1/vehicles/${vehicleId}/access`, operator, {
            email: viewer.email,
            role: 'viewer',
          })
        ).status,
      ).toBeLessThan(300);
    });
    afterEach(async () => {
      await app?.dispose();
    });

    async function call<T = unknown>(
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      url: string,
      user: TestUser,
      payload?: unknown,
    ) {
      const res = await app.http.inject({
        method,
        url,
        headers: user.headers,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
      return { status: res.statusCode, body: (res.body ? res.json() : null) as T };
    }
    const ingest = async (points: Array<[sec: number, soc: number]>) => {
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${VIN}/telemetry`,
        headers: operator.headers,
        payload: points.map(([sec, soc]) => ({ ts: T0 + sec * 1000, metrics: { battery_level_pct: soc } })),
      });
      expect(res.statusCode).toBe(200);
    };
    const alerts = async (query = '', user = operator) =>
      (await call<AlertPage>('GET', `/api/v1/alerts${query}`, user)).body;
    const rule = (extra: Record<string, unknown> = {}) => ({
      name: 'Battery low',
      vehicleId,
      condition: { metric: 'battery_level_pct', op: '<', value: 20 },
      channels: [{ type: 'email' }, { type: 'inapp' }],
      ...extra,
    });

    it('fires once per episode, resolves when it clears, and emails the owner through a real SMTP server', async () => {
      const created = await call<AlertRule>('POST', '/api/v1/alert-rules', operator, rule());
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        name: 'Battery low',
        ownerId: operator.id,
        vehicleId,
        enabled: true,
        cooldownS: 0,
      });
      expect(created.body.webhookSecret).toMatch(/.{32,}/);
      await ingest([
        [0, 25],
        [10, 19],
        [20, 18],
        [30, 17],
      ]);
      await waitUntil('the alert fired', async () => (await alerts()).items.length === 1);
      await ingest([[40, 21]]);
      await waitUntil('the alert resolved', async () => (await alerts()).items[0]?.state === 'resolved');
      const [alert] = (await alerts()).items;
      expect(alert).toMatchObject({
        ruleId: created.body.id,
        ruleName: 'Battery low',
        vehicleId,
        firedMs: T0 + 10_000,
        resolvedMs: T0 + 40_000,
        value: 19,
        message: 'Battery level 19 % < 20 %',
      });
      await waitUntil('the email arrived', async () => smtp.received.length >= 1);
      // A later, separate episode fires again; the same episode never twice.
      await ingest([[50, 15]]);
      await waitUntil('the second episode', async () => (await alerts()).items.length === 2);
      await waitUntil('two emails', async () => smtp.received.length === 2);
      const [mail] = smtp.received;
      // Quoted-printable bodies wrap long lines: unwrap before reading them.
      const body = mail!.raw.replace(/=\r\n/g, '').replace(/=3D/g, '=');
      expect(mail!.to).toEqual([operator.email]);
      expect(mail!.from).toBe('alerts@tacho.test');
      expect(mail!.raw).toMatch(/Subject: \[Tacho\] Battery low: Blue Model 3/);
      expect(body).toContain(`https://tacho.test/vehicles/${vehicleId}`);
      expect(body).toContain('Battery level 19 % < 20 %');
      expect(mail!.raw).toMatch(/Content-Type: text\/html/);
      const log = (await call<AlertDeliveryList>('GET', `/api/v1/alerts/${alert!.id}/deliveries`, viewer))
        .body;
      expect(log.items.find((d) => d.channel === 'email')).toMatchObject({
        target: operator.email,
        status: 'sent',
      });
      expect(log.items.find((d) => d.channel === 'email')!.attempts).toMatchObject([{ ok: true }]);
    });

    it('signs webhooks with the rule secret, retries a receiver that fails, hangs or redirects, and logs each attempt', async () => {
      let answers = 0;
      receiver.answer = (res) => {
        answers += 1;
        if (answers === 1) res.writeHead(500).end('boom');
        else if (answers === 2) res.writeHead(302, { location: 'https://elsewhere.test/' }).end();
        else if (answers === 3)
          return; // hangs: no answer within 5 s
        else res.writeHead(200).end('ok');
      };
      const created = await call<AlertRule>(
        'POST',
        '/api/v1/alert-rules',
        admin,
        rule({ vehicleId, channels: [{ type: 'webhook', url: receiver.url, allowPrivate: true }] }),
      );
      expect(created.status).toBe(201);
      await ingest([[0, 10]]);
      await waitUntil('the first attempt', async () => receiver.requests.length === 1);
      for (const n of [2, 3, 4]) {
        // Back-off: the next try is due later; the clock moves on and the dispatcher looks again.
        await waitUntil(`attempt ${n - 1} logged`, async () => {
          const [alert] = (await alerts('', admin)).items;
          const log = (await call<AlertDeliveryList>('GET', `/api/v1/alerts/${alert!.id}/deliveries`, admin))
            .body;
          return log.items.find((d) => d.channel === 'webhook')!.attempts.length === n - 1;
        });
        clock.advance(60 * 60_000);
        app.alerts.dispatcher.poke();
        await waitUntil(`attempt ${n}`, async () => receiver.requests.length === n, 30_000);
      }
      const [alert] = (await alerts('', admin)).items;
      await waitUntil('sent', async () => {
        const log = (await call<AlertDeliveryList>('GET', `/api/v1/alerts/${alert!.id}/deliveries`, admin))
          .body;
        return log.items.find((d) => d.channel === 'webhook')?.status === 'sent';
      });
      const log = (await call<AlertDeliveryList>('GET', `/api/v1/alerts/${alert!.id}/deliveries`, admin))
        .body;
      const attempts = log.items.find((d) => d.channel === 'webhook')!.attempts;
      expect(attempts.map((a) => [a.ok, a.status])).toEqual([
        [false, 500],
        [false, 302],
        [false, null],
        [true, 200],
      ]);
      expect(attempts[1]!.error).toContain('redirect');
      expect(attempts[2]!.error).toMatch(/no answer within 5 s|timed out/);
      // Each try carries the same delivery id and a valid signature over the exact body.
      const ids = new Set(receiver.requests.map((r) => r.headers['x-tacho-delivery']));
      expect(ids.size).toBe(1);
      for (const r of receiver.requests) {
        const expected = `sha256=${createHmac('sha256', created.body.webhookSecret!).update(r.body).digest('hex')}`;
        expect(r.headers['x-tacho-signature']).toBe(expected);
        const body = JSON.parse(r.body);
        expect(body).toMatchObject({
          deliveryId: [...ids][0],
          alert: { id: alert!.id, value: 10 },
          vehicle: { id: vehicleId },
        });
        expect(body.timestamp).toBeTypeOf('number');
      }
    });

    it('refuses bad rules with 400 naming the field, and lets only who may act', async () => {
      const bad = async (body: Record<string, unknown>, user = operator) =>
        call<{ error: { message: string } }>('POST', '/api/v1/alert-rules', user, rule(body));
      const expectField = async (body: Record<string, unknown>, field: string, status = 400) => {
        const res = await bad(body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(res.body.error.message).toContain(field);
      };
      await expectField({ condition: { metric: 'warp_factor', op: '>', value: 9 } }, 'condition.metric');
      await expectField({ condition: { metric: 'gear', op: '<', value: 'D' } }, 'condition.op');
      await expectField({ condition: { metric: 'gear', op: '==', value: 'X' } }, 'condition.value');
      await expectField(
        { condition: { metric: 'battery_level_pct', op: '<', value: 'low' } },
        'condition.value',
      );
      await expectField({ condition: { metric: 'battery_level_pct', op: '~', value: 1 } }, 'op');
      await expectField({ channels: [{ type: 'webhook', url: 'ftp://example.com/x' }] }, 'channels[0].url');
      await expectField({ channels: [{ type: 'webhook', url: 'http://example.com/x' }] }, 'channels[0].url');
      await expectField({ channels: [{ type: 'webhook', url: 'https://10.1.2.3/x' }] }, 'channels[0].url');
      await expectField({ channels: [{ type: 'webhook', url: 'https://[::1]/x' }] }, 'channels[0].url');
      await expectField(
        { channels: [{ type: 'webhook', url: receiver.url, allowPrivate: true }] },
        'allowPrivate',
        403,
      );
      await expectField(
        { channels: [{ type: 'email', to: `${operator.email}\r\nBcc: victim@example.com` }] },
        'channels[0].to',
      );
      await expectField(
        { channels: [{ type: 'email', to: 'someone.else@example.com' }] },
        'channels[0].to',
        403,
      );
      await expectField({ condition: undefined, event: { type: 'offline' } }, 'event.forS');
      await expectField({ condition: undefined, event: { type: 'geofence_enter' } }, 'event.geofence');
      await expectField({ event: { type: 'drive_started' } }, 'condition');
      // An admin may mail another address; nobody may slip a header in.
      expect((await bad({ channels: [{ type: 'email', to: 'fleet@example.com' }] }, admin)).status).toBe(201);
      // Viewers read, never write; strangers see nothing.
      expect((await bad({}, viewer)).status).toBe(403);
      const stranger = await createTestUser(app, 'operator');
      expect((await bad({}, stranger)).status).toBe(404);
      const mine = await call<AlertRule>('POST', '/api/v1/alert-rules', operator, rule());
      expect((await call('GET', `/api/v1/alert-rules/${mine.body.id}`, stranger)).status).toBe(404);
      const seen = await call<AlertRule>('GET', `/api/v1/alert-rules/${mine.body.id}`, viewer);
      expect(seen.status).toBe(200);
      expect(seen.body.webhookSecret).toBeNull();
      expect(
        (await call('PATCH', `/api/v1/alert-rules/${mine.body.id}`, viewer, { enabled: false })).status,
      ).toBe(403);
      expect((await call('DELETE', `/api/v1/alert-rules/${mine.body.id}`, stranger)).status).toBe(404);
      expect((await call<{ items: AlertRule[] }>('GET', '/api/v1/alert-rules', stranger)).body.items).toEqual(
        [],
      );
    });

    it('acknowledges, lists open ones first, pages, and tells open dashboards at once over the live socket', async () => {
      const base = await app.listen();
      const socket = await TestSocket.open(`${base.replace(/^http/, 'ws')}/api/v1/live`, viewer.headers);
      socket.send({ type: 'subscribe', vehicleIds: [vehicleId] });
      await socket.next('snapshot');
      expect((await call('POST', '/api/v1/alert-rules', operator, rule({ cooldownS: 0 }))).status).toBe(201);
      await ingest([
        [0, 10],
        [10, 30],
        [20, 10],
        [30, 30],
        [40, 10],
      ]);
      await waitUntil('three alerts', async () => (await alerts()).items.length === 3);
      const fired = await socket.next('alert', (m) => m.alert.state === 'open');
      expect(fired.alert).toMatchObject({
        vehicleId,
        ruleName: 'Battery low',
        message: 'Battery level 10 % < 20 %',
      });
      const page = await alerts('?limit=1');
      expect(page.items[0]).toMatchObject({ state: 'open', firedMs: T0 + 40_000 });
      const second = await alerts(`?limit=1&before=${page.nextBefore}`);
      expect(second.items[0]).toMatchObject({ state: 'resolved', firedMs: T0 + 20_000 });
      const third = await alerts(`?limit=1&before=${second.nextBefore}`);
      expect(third.items[0]).toMatchObject({ state: 'resolved', firedMs: T0 });
      expect(third.nextBefore).toBeNull();
      const open = page.items[0]!;
      expect((await call('POST', `/api/v1/alerts/${open.id}/acknowledge`, viewer)).status).toBe(403);
      const acked = await call<Alert>('POST', `/api/v1/alerts/${open.id}/acknowledge`, operator);
      expect(acked.status).toBe(200);
      expect(acked.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: operator.id });
      await socket.next('alert', (m) => m.alert.id === open.id && m.alert.state === 'acknowledged');
      expect((await alerts('?state=acknowledged')).items.map((a) => a.id)).toEqual([open.id]);
      const resolvedOne = second.items[0]!;
      expect((await call('POST', `/api/v1/alerts/${resolvedOne.id}/acknowledge`, operator)).status).toBe(409);
      expect((await call('GET', '/api/v1/alerts?before=garbage', operator)).status).toBe(400);
      expect((await call('GET', '/api/v1/alerts?state=sleeping', operator)).status).toBe(400);
      socket.ws.close();
    });

    it('applies a rule for every vehicle its owner manages, now and later, and goes offline at a tick', async () => {
      const created = await call<AlertRule>('POST', '/api/v1/alert-rules', operator, {
        name: 'Silent',
        vehicleId: null,
        event: { type: 'offline', forS: 600 },
        channels: [{ type: 'inapp' }],
      });
      expect(created.status).toBe(201);
      const later = await call<{ id: string }>('POST', '/api/v1/vehicles', operator, {
        vin: '5YJ3E1EA7KF000025',
        name: 'Red',
      });
      await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles/5YJ3E1EA7KF000025/telemetry',
        headers: operator.headers,
        payload: [{ ts: T0, metrics: { battery_level_pct: 50 } }],
      });
      await ingest([[0, 50]]);
      await waitUntil('both vehicles seen', async () => {
        const rows = await app.storage.db
          .selectFrom('processing_state')
          .select('vehicle_id')
          .where('processor', '=', 'alerts')
          .execute();
        return rows.length === 2;
      });
      clock.set(T0 + 3 * 3_600_000);
      app.processing.poke();
      await waitUntil('both went offline', async () => (await alerts()).items.length === 2, 30_000);
      expect((await alerts()).items.map((a) => a.vehicleId).sort()).toEqual(
        [vehicleId, later.body.id].sort(),
      );
      expect((await alerts()).items[0]).toMatchObject({
        state: 'open',
        firedMs: T0 + 600_000,
        message: 'No data for 10 min',
      });
      // Back online: resolved at the next reading.
      await ingest([[3 * 3600 - 10, 50]]);
      await waitUntil(
        'back online',
        async () => (await alerts(`?vehicleId=${vehicleId}`)).items[0]?.state === 'resolved',
      );
      // Disabling the rule resolves what it left open.
      expect(
        (await call('PATCH', `/api/v1/alert-rules/${created.body.id}`, operator, { enabled: false })).status,
      ).toBe(200);
      expect((await alerts('?state=open')).items).toEqual([]);
      expect((await call('DELETE', `/api/v1/alert-rules/${created.body.id}`, operator)).status).toBe(204);
      expect((await alerts()).items.every((a) => a.ruleId === null && a.ruleName === 'Silent')).toBe(true);
    });

    it('sends a test notification through each channel on request', async () => {
      const created = await call<AlertRule>(
        'POST',
        '/api/v1/alert-rules',
        admin,
        rule({ channels: [{ type: 'email' }, { type: 'webhook', url: receiver.url, allowPrivate: true }] }),
      );
      const res = await call<{ results: Array<{ channel: string; ok: boolean }> }>(
        'POST',
        `/api/v1/alert-rules/${created.body.id}/test`,
        admin,
      );
      expect(res.status).toBe(200);
      expect(res.body.results.map((r) => [r.channel, r.ok])).toEqual([
        ['email', true],
        ['webhook', true],
      ]);
      expect(smtp.received.map((m) => m.to)).toEqual([[admin.email]]);
      expect(receiver.requests).toHaveLength(1);
      expect((await alerts('', admin)).items).toEqual([]);
    });
  });
}
