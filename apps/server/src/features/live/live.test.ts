import type { UpdateMessage } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppOptions, createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { storeSamples } from '../readings/test-data.js';
import { StoredEvents } from '../telemetry/stored-event.js';
import { redisAvailable, TEST_REDIS_URL } from './bus.test-support.js';
import { TestSocket } from './test-socket.js';

const ALLOWED = 'http://dashboard.example.test';

for (const engine of engines) {
  describe(`live socket [${engine}]`, () => {
    let app: TestApp;
    let base: string;
    let owner: TestUser;
    let stranger: TestUser;
    let mine: string;
    let theirs: string;
    const sockets: TestSocket[] = [];

    async function start(options: AppOptions = {}) {
      app = await createTestApp(engine, { TACHO_ALLOWED_ORIGINS: ALLOWED }, options);
      base = (await app.listen()).replace(/^http/, 'ws');
      owner = await createTestUser(app, 'operator');
      stranger = await createTestUser(app, 'operator');
      mine = await addVehicle(owner, '5YJ3E1EA7KF000101');
      theirs = await addVehicle(stranger, '5YJ3E1EA7KF000102');
    }
    async function addVehicle(user: TestUser, vin: string): Promise<string> {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: user.headers,
        payload: { vin, name: vin.slice(-3) },
      });
      expect(res.statusCode).toBe(201);
      return res.json().id;
    }
    async function connect(user: TestUser | null, headers: Record<string, string> = {}) {
      const socket = await TestSocket.open(`${base}/api/v1/live`, headers);
      sockets.push(socket);
      if (user) {
        socket.send({ type: 'auth', token: user.token });
        await socket.next('ready');
      }
      return socket;
    }
    function publish(vehicleId: string, tsMs: number, metrics: Record<string, number | string | boolean>) {
      const events = new StoredEvents();
      events.addSamples([{ vehicleId, tsMs, seq: 0, receivedMs: tsMs, source: 'test', metrics }]);
      for (const event of events.events()) app.events.emit('samples.stored', event);
    }

    beforeEach(() => {
      sockets.length = 0;
    });
    afterEach(async () => {
      for (const s of sockets) s.close();
      await app?.dispose();
    });

    it('authenticates with a token in the first message, then sends a snapshot and the updates', async () => {
      await start();
      await storeSamples(app.storage.db, mine, [{ tsMs: 1000, metrics: { battery_level_pct: 70 } }]);
      const socket = await connect(owner);
      expect(socket.messages[0]).toEqual({ type: 'ready', userId: owner.id });
      socket.send({ type: 'subscribe', vehicleIds: [mine] });
      const snapshot = await socket.next('snapshot');
      expect(snapshot.vehicleId).toBe(mine);
      expect(snapshot.state.metrics).toEqual({ battery_level_pct: { value: 70, ts_ms: 1000 } });

      publish(mine, 2000, { battery_level_pct: 69, speed_kmh: 12 });
      const update = await socket.next('update');
      expect(update).toMatchObject({
        vehicleId: mine,
        metrics: { battery_level_pct: { value: 69, ts_ms: 2000 }, speed_kmh: { value: 12, ts_ms: 2000 } },
      });
      expect(update.publishedMs).toBeGreaterThan(0);
    });

    it('streams what devices send: an HTTP ingest reaches the subscribed socket as one update', async () => {
      await start();
      const socket = await connect(owner);
      socket.send({ type: 'subscribe', vehicleIds: [mine] });
      await socket.next('snapshot');
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles/5YJ3E1EA7KF000101/telemetry',
        headers: owner.headers,
        payload: [
          { ts: 1_790_000_000_000, metrics: { speed_kmh: 40 }, position: { lat: 48.1, lon: 11.5 } },
          { ts: 1_790_000_001_000, metrics: { speed_kmh: 42, battery_level_pct: 55 } },
        ],
      });
      expect(res.statusCode).toBe(200);
      const update = await socket.next('update');
      expect(update.metrics).toEqual({
        speed_kmh: { value: 42, ts_ms: 1_790_000_001_000 },
        battery_level_pct: { value: 55, ts_ms: 1_790_000_001_000 },
      });
      expect(update.position).toEqual({ lat: 48.1, lon: 11.5, ts_ms: 1_790_000_000_000 });
    });

    it('answers a vehicle one may not see with an error for that id and nothing else', async () => {
      await start();
      const socket = await connect(owner);
      socket.send({ type: 'subscribe', vehicleIds: [theirs, mine] });
      const error = await socket.next('error');
      expect(error).toMatchObject({ code: 'not_found', vehicleId: theirs });
      await socket.next('snapshot', (m) => m.vehicleId === mine);
      publish(theirs, 5000, { speed_kmh: 99 });
      publish(mine, 5000, { speed_kmh: 1 });
      await socket.next('update', (m) => m.vehicleId === mine);
      await socket.roundTrip();
      expect(socket.messages.filter((m) => 'vehicleId' in m && m.vehicleId === theirs)).toEqual([error]);
    });

    it('refuses a bad token, a foreign Origin, and messages before authentication', async () => {
      await start();
      const bad = await connect(null);
      bad.send({ type: 'auth', token: 'tacho_not-a-real-token' });
      expect((await bad.closed()).code).toBe(4401);

      const expired = await connect(null, { cookie: 'tacho_access=expired.or.forged' });
      expect(await expired.closed()).toEqual({
        code: 4401,
        reason: 'login expired: refresh it and reconnect',
      });

      const early = await connect(null);
      early.send({ type: 'subscribe', vehicleIds: [mine] });
      expect((await early.closed()).code).toBe(4401);

      await expect(TestSocket.open(`${base}/api/v1/live`, { origin: 'http://evil.example' })).rejects.toThrow(
        'HTTP 403',
      );
      const allowed = await connect(owner, { origin: ALLOWED });
      await allowed.roundTrip();
    });

    it('closes a socket that never authenticates, and keeps one that did', async () => {
      await start({ live: { authTimeoutMs: 300 } });
      const silent = await connect(null);
      const authed = await connect(owner);
      expect((await silent.closed()).code).toBe(4401);
      await new Promise((resolve) => setTimeout(resolve, 400));
      await authed.roundTrip();
      expect(authed.closeCode).toBeNull();
    });

    it('accepts the bearer token as a header from non-browser clients and answers ping with pong', async () => {
      await start();
      const socket = await connect(null, owner.headers);
      await socket.next('ready');
      socket.send({ type: 'ping', id: 'abc' });
      expect(await socket.next('pong')).toEqual({ type: 'pong', id: 'abc' });
      socket.send({ type: 'nonsense' });
      expect(await socket.next('error')).toMatchObject({ code: 'invalid' });
    });

    it('closes a socket that sends an oversized message (1009), though MQTT-sized frames pass the server', async () => {
      await start();
      const socket = await connect(owner);
      socket.send({ type: 'ping', id: 'x'.repeat(70 * 1024) });
      expect(await socket.closed()).toEqual({ code: 1009, reason: 'message too large' });
    });

    it('stops updates after unsubscribe', async () => {
      await start();
      const socket = await connect(owner);
      socket.send({ type: 'subscribe', vehicleIds: [mine] });
      await socket.next('snapshot');
      socket.send({ type: 'unsubscribe', vehicleIds: [mine] });
      await socket.roundTrip();
      publish(mine, 9000, { speed_kmh: 5 });
      await socket.roundTrip();
      expect(socket.messages.some((m) => m.type === 'update')).toBe(false);
    });

    it('closes the socket with a reason when access is revoked, and sends nothing after', async () => {
      await start();
      const viewer = await createTestUser(app, 'viewer');
      const share = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${mine}/access`,
        headers: owner.headers,
        payload: { email: viewer.email, role: 'viewer' },
      });
      expect(share.statusCode).toBeLessThan(300);
      const socket = await connect(viewer);
      socket.send({ type: 'subscribe', vehicleIds: [mine] });
      await socket.next('snapshot');
      publish(mine, 1, { speed_kmh: 1 });
      await socket.next('update');

      const unshare = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${mine}/access/${viewer.id}`,
        headers: owner.headers,
      });
      expect(unshare.statusCode).toBeLessThan(300);
      publish(mine, 2, { speed_kmh: 2 });
      const closed = await socket.closed(1000);
      expect(closed).toEqual({ code: 4403, reason: 'access to a subscribed vehicle was revoked' });
      expect(socket.messages.filter((m) => m.type === 'update')).toHaveLength(1);
    });

    it('keeps streaming when a revocation does not concern what the socket may read', async () => {
      await start();
      const socket = await connect(owner);
      socket.send({ type: 'subscribe', vehicleIds: [mine] });
      await socket.next('snapshot');
      app.events.emit('access.revoked', { userId: owner.id, vehicleId: mine });
      publish(mine, 3, { speed_kmh: 3 });
      await socket.next('update');
      expect(socket.closeCode).toBeNull();
    });

    it('closes the sockets of a login that ended', async () => {
      await start();
      const socket = await connect(owner);
      const other = await connect(stranger);
      app.events.emit('login.ended', { userId: owner.id, reason: 'logged out' });
      expect(await socket.closed(1000)).toEqual({ code: 4401, reason: 'login ended: logged out' });
      await other.roundTrip();
    });

    it('coalesces updates for a slow reader to the latest value per metric, without slowing others', async () => {
      await start({ live: { limits: { stuckMs: 20_000 } } });
      const slow = await connect(owner);
      const fast = await connect(owner);
      for (const s of [slow, fast]) {
        s.send({ type: 'subscribe', vehicleIds: [mine] });
        await s.next('snapshot');
      }
      // Stop reading: the kernel buffers fill, then the server's send queue passes the high-water mark.
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      const filler = 'x'.repeat(2000);
      const count = 6000;
      for (let i = 1; i <= count; i++) {
        publish(mine, i, { odometer_km: i, [`note_${i % 20}`]: filler });
        // Batches arrive a few milliseconds apart, as the ingest pipeline commits them.
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await fast.next('update', (m) => m.metrics.odometer_km?.value === count, 10_000);
      const fastUpdates = fast.messages.filter((m): m is UpdateMessage => m.type === 'update');
      expect(fastUpdates.map((u) => u.metrics.odometer_km?.value)).toEqual(
        Array.from({ length: count }, (_, i) => i + 1),
      );

      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const last = await slow.next('update', (m) => m.metrics.odometer_km?.value === count, 10_000);
      expect(last.coalesced).toBe(true);
      const slowUpdates = slow.messages.filter((m): m is UpdateMessage => m.type === 'update');
      expect(slowUpdates.length).toBeLessThan(count);
      const values = slowUpdates.map((u) => u.metrics.odometer_km!.value as number);
      expect(values).toEqual([...values].sort((a, b) => a - b));
    });

    it('closes a reader that stays stuck with 1008', async () => {
      await start({ live: { limits: { highWaterBytes: 4096, lowWaterBytes: 1024, stuckMs: 300 } } });
      const stuck = await connect(owner);
      stuck.send({ type: 'subscribe', vehicleIds: [mine] });
      await stuck.next('snapshot');
      (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const filler = 'y'.repeat(2000);
      for (let i = 1; i <= 5000; i++) publish(mine, i, { odometer_km: i, note: filler });
      const deadline = Date.now() + 20_000;
      while (app.live.hub.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(app.live.hub.size).toBe(0);
    });
  });
}

describe('live socket across instances (Redis)', () => {
  const apps: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const a of apps.splice(0).reverse()) await a.close();
  });

  it('delivers an update ingested by one instance to a socket on another', async (context) => {
    if (!(await redisAvailable())) {
      if (process.env.CI === 'true') throw new Error('Redis at 127.0.0.1:6379 is required under CI');
      context.skip();
    }
    const prefix = `test:${process.pid}:${Date.now()}:`;
    const one = await createTestApp(
      'sqlite',
      { TACHO_REDIS_URL: TEST_REDIS_URL },
      { live: { redisPrefix: prefix } },
    );
    apps.push({ close: () => one.dispose() });
    const two = await createApp(
      loadConfig({
        TACHO_LOG_LEVEL: 'silent',
        TACHO_PORT: '0',
        TACHO_REDIS_URL: TEST_REDIS_URL,
        TACHO_DATA_DIR: one.config.dataDir,
      }),
      { storage: one.storage, mqttPort: null, live: { redisPrefix: prefix } },
    );
    apps.push(two);
    const owner = await createTestUser(one, 'operator');
    const created = await one.http.inject({
      method: 'POST',
      url: '/api/v1/vehicles',
      headers: owner.headers,
      payload: { vin: '5YJ3E1EA7KF000401', name: 'Shared' },
    });
    const vehicleId = created.json().id as string;
    const base = (await two.listen()).replace(/^http/, 'ws');
    const socket = await TestSocket.open(`${base}/api/v1/live`);
    try {
      socket.send({ type: 'auth', token: owner.token });
      await socket.next('ready');
      socket.send({ type: 'subscribe', vehicleIds: [vehicleId] });
      await socket.next('snapshot');
      const res = await one.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles/5YJ3E1EA7KF000401/telemetry',
        headers: owner.headers,
        payload: { ts: 1_790_000_000_000, metrics: { battery_level_pct: 42 } },
      });
      expect(res.statusCode).toBe(200);
      const update = await socket.next('update');
      expect(update.metrics.battery_level_pct).toEqual({ value: 42, ts_ms: 1_790_000_000_000 });
    } finally {
      socket.close();
    }
  });
});
