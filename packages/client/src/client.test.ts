import type { Alert, VehicleState } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, type TestUser } from '../../../apps/server/src/features/auth/testing.js';
import { createTestApp, type TestApp } from '../../../apps/server/src/test/app.js';
import { engines } from '../../../apps/server/src/test/storage.js';
import { ApiError } from './errors.js';
import { TachoClient } from './index.js';
import type { SocketLike } from './live.js';

const VIN = '5YJ3E1EA7KF000201';
const T0 = Date.UTC(2026, 6, 1);
const nodeSocket = (url: string, headers: Record<string, string>) =>
  new WebSocket(url, { headers }) as unknown as SocketLike;

/** Waits until `check` passes (bounded). */
async function eventually(check: () => void, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

for (const engine of engines) {
  describe(`typed client against a real server [${engine}]`, () => {
    let app: TestApp;
    let baseUrl: string;
    let owner: TestUser;
    const clients: TachoClient[] = [];
    const client = (options: ConstructorParameters<typeof TachoClient>[0]) => {
      const c = new TachoClient({ baseUrl, ...options });
      clients.push(c);
      return c;
    };

    beforeEach(async () => {
      app = await createTestApp(engine);
      baseUrl = await app.listen();
      owner = await createTestUser(app, 'operator');
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await app?.dispose();
    });

    it('reads and writes through every area in bearer mode', async () => {
      const api = client({ token: owner.token });
      const vehicle = await api.vehicles.create({ vin: VIN, name: 'Road' });
      expect((await api.vehicles.list()).map((v) => v.vin)).toEqual([VIN]);
      expect((await api.vehicles.byVin(VIN.toLowerCase()))?.id).toBe(vehicle.id);

      const published = await api.telemetry.publish(
        VIN,
        Array.from({ length: 50 }, (_, i) => ({
          ts: T0 + i * 1000,
          metrics: { speed_kmh: i, battery_level_pct: 90 - i / 10 },
          position: { lat: 48 + i / 1000, lon: 11 },
        })),
      );
      expect(published).toMatchObject({ stored: 50, duplicates: 0 });

      const state = await api.readings.state(vehicle.id);
      expect(state.metrics.speed_kmh).toEqual({ value: 49, ts_ms: T0 + 49_000 });
      const series = await api.readings.series(vehicle.id, {
        from: T0,
        to: T0 + 60_000,
        metrics: ['speed_kmh'],
        maxPoints: 10,
      });
      expect(series.series[0]!.t).toHaveLength(10);
      const rows = [];
      for await (const s of api.readings.allSamples(vehicle.id, { from: T0, to: T0 + 60_000, limit: 7 }))
        rows.push(s);
      expect(rows.map((r) => r.ts_ms)).toEqual(Array.from({ length: 50 }, (_, i) => T0 + i * 1000));
      const track = await api.readings.track(vehicle.id, { from: T0, to: T0 + 60_000, maxPoints: 5 });
      expect(track.geometry.coordinates).toHaveLength(5);
      expect((await api.readings.raw(vehicle.id)).vehicleId).toBe(vehicle.id);

      const created = await api.tokens.create({ name: 'script', scopes: ['read'] });
      expect((await api.tokens.list()).map((t) => t.id)).toContain(created.info.id);
      const err = await api.readings.state('no-such-vehicle').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ status: 404, code: 'not_found' });
    });

    it('refreshes the login once on a burst of 401s, then retries each request once', async () => {
      let refreshes = 0;
      const counting: typeof fetch = (input, init) => {
        if (String(input).endsWith('/api/v1/auth/refresh')) refreshes++;
        return fetch(input, init);
      };
      const api = client({ mode: 'cookie', cookieJar: true, fetch: counting });
      await api.auth.login(owner.email, owner.password);
      expect((await api.auth.me()).id).toBe(owner.id);

      // The access cookie ran out: ten requests fail at once with 401.
      api.http.dropCookie('tacho_access');
      const results = await Promise.all(Array.from({ length: 10 }, () => api.vehicles.list()));
      expect(results).toHaveLength(10);
      expect(refreshes).toBe(1);
    });

    it('reports a login that cannot be refreshed as lost and fails with 401', async () => {
      let lost = 0;
      const api = client({ mode: 'cookie', cookieJar: true, onSessionLost: () => lost++ });
      await api.auth.login(owner.email, owner.password);
      api.http.dropCookie('tacho_access');
      api.http.dropCookie('tacho_refresh');
      const err = await api.vehicles.list().catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 401 });
      expect(lost).toBe(1);
    });

    it('follows a vehicle live, reconnects after a drop, and resyncs what happened meanwhile', async () => {
      const api = client({
        token: owner.token,
        live: { socket: nodeSocket, minDelayMs: 20, maxDelayMs: 100 },
      });
      const vehicle = await api.vehicles.create({ vin: VIN, name: 'Road' });
      await api.telemetry.publish(VIN, { ts: T0, metrics: { battery_level_pct: 80 } });

      const seen: VehicleState[] = [];
      const statuses: string[] = [];
      api.live.onStatus((s) => statuses.push(s));
      api.live.subscribe(vehicle.id, { state: (s) => seen.push(s) });
      await eventually(() => expect(seen.at(-1)?.metrics.battery_level_pct?.value).toBe(80));

      await api.telemetry.publish(VIN, { ts: T0 + 1000, metrics: { battery_level_pct: 79, speed_kmh: 30 } });
      await eventually(() => expect(seen.at(-1)?.metrics.speed_kmh?.value).toBe(30));

      // The server drops every socket; data arrives while the client is away.
      app.live.hub.closeAll();
      await eventually(() => expect(statuses).toContain('reconnecting'));
      await api.telemetry.publish(VIN, { ts: T0 + 2000, metrics: { battery_level_pct: 78 } });
      await eventually(() => expect(api.live.status).toBe('open'));
      await eventually(() => expect(api.live.stateOf(vehicle.id)?.metrics.battery_level_pct?.value).toBe(78));

      // And the stream goes on after the reconnect.
      await api.telemetry.publish(VIN, { ts: T0 + 3000, metrics: { battery_level_pct: 77 } });
      await eventually(() => expect(seen.at(-1)?.metrics.battery_level_pct?.value).toBe(77));
    });

    it("hands a followed vehicle's alerts to its listener as they fire and resolve, beside its updates", async () => {
      const api = client({ token: owner.token, live: { socket: nodeSocket } });
      const vehicle = await api.vehicles.create({ vin: VIN, name: 'Road' });
      await api.alerts.createRule({
        name: 'Battery low',
        vehicleId: vehicle.id,
        condition: { metric: 'battery_level_pct', op: '<', value: 20 },
        channels: [{ type: 'inapp' }],
      });
      const alerts: Alert[] = [];
      const states: VehicleState[] = [];
      api.live.subscribe(vehicle.id, { state: (s) => states.push(s), alert: (a) => alerts.push(a) });
      await eventually(() => expect(states.length).toBeGreaterThan(0));

      await api.telemetry.publish(VIN, [
        { ts: T0, metrics: { battery_level_pct: 30 } },
        { ts: T0 + 1000, metrics: { battery_level_pct: 15 } },
      ]);
      await eventually(() => expect(alerts.map((a) => a.state)).toEqual(['open']));
      expect(alerts[0]).toMatchObject({
        ruleName: 'Battery low',
        vehicleId: vehicle.id,
        message: 'Battery level 15 % < 20 %',
      });
      await eventually(() => expect(states.at(-1)?.metrics.battery_level_pct?.value).toBe(15));

      await api.telemetry.publish(VIN, { ts: T0 + 2000, metrics: { battery_level_pct: 40 } });
      await eventually(() => expect(alerts.map((a) => a.state)).toEqual(['open', 'resolved']));
      expect(alerts[1]?.id).toBe(alerts[0]?.id);
      await eventually(() => expect(states.at(-1)?.metrics.battery_level_pct?.value).toBe(40));
    });

    it('opens the live socket with the login cookie (no token message), as a browser does', async () => {
      const api = client({ mode: 'cookie', cookieJar: true, live: { socket: nodeSocket } });
      await api.auth.login(owner.email, owner.password);
      const vehicle = await api.vehicles.create({ vin: VIN, name: 'Road' });
      const seen: VehicleState[] = [];
      api.live.subscribe(vehicle.id, { state: (s) => seen.push(s) });
      await eventually(() => expect(api.live.status).toBe('open'));
      await client({ token: owner.token }).telemetry.publish(VIN, { ts: T0, metrics: { speed_kmh: 12 } });
      await eventually(() => expect(seen.at(-1)?.metrics.speed_kmh?.value).toBe(12));
    });

    it("reads how many of a vehicle's messages were refused, and the last reason", async () => {
      const api = client({ token: owner.token });
      const vehicle = await api.vehicles.create({ vin: VIN, name: 'Road' });
      expect((await api.vehicles.get(vehicle.id)).refusals).toBeNull();
      // A device clock ten minutes fast.
      const refused = await api.telemetry
        .publish(VIN, { ts: Date.now() + 600_000, metrics: { speed_kmh: 1 } })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ApiError);
      expect((await api.vehicles.get(vehicle.id)).refusals).toMatchObject({
        count: 1,
        lastReason: expect.stringContaining('ahead of the server clock'),
      });
    });

    it("reports a vehicle the user may not see through the listener's error", async () => {
      const stranger = await createTestUser(app, 'operator');
      const vehicle = await client({ token: owner.token }).vehicles.create({ vin: VIN, name: 'Road' });
      const api = client({ token: stranger.token, live: { socket: nodeSocket } });
      const errors: string[] = [];
      api.live.subscribe(vehicle.id, { error: (code) => errors.push(code) });
      await eventually(() => expect(errors).toEqual(['not_found']));
    });
  });
}
