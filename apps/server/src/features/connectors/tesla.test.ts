import type { SessionPage, TeslaAccountList, TeslaVehicleList } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { expectRefusals, moveSealedToken } from '../../test/connector-accounts.js';
import { FakeTesla } from '../../test/fake-tesla.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { waitUntil } from '../telemetry/fault-helpers.js';
import { TeslaPoller } from './tesla-poller.js';
import { INTERRUPTED_REASON, TeslaTokenKeeper } from './tesla-tokens.js';

const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const VIN = '5YJ3E1EA7KF000017';
const VIN2 = '5YJ3E1EA9KF000018';
const CLIENT_ID = 'tacho-test-client';
const CLIENT_SECRET = 'ta-secret.fake-client-secret-0123456789';

/**
 * The Tesla connector's whole life against a fake of Tesla's auth server and Fleet API: sign-in with
 * PKCE, vehicles picked, polling that never wakes a car and lets it sleep, a drive and a charge recorded
 * as sessions, 429 obeyed, the daily budget kept, refresh rotation, a crash between Tesla's answer and
 * the commit (both ways Tesla may take it), and disconnecting.
 */
for (const engine of engines) {
  describe(`Tesla connector [${engine}]`, () => {
    let clock: ManualClock;
    let fake: FakeTesla;
    let app: TestApp;
    let owner: TestUser;
    let crashBeforeCommit = false;

    async function startApp(extra: Record<string, string> = {}, graceReuse = false): Promise<void> {
      fake = new FakeTesla({ clock, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, graceReuse });
      await fake.start();
      app = await createTestApp(
        engine,
        { ...fake.env(), TACHO_TESLA_DAILY_REQUESTS: '100000', ...extra },
        {
          clock,
          tesla: {
            pollTickMs: null,
            beforeTokenCommit: () => {
              if (crashBeforeCommit) {
                crashBeforeCommit = false;
                throw new Error('the process died here');
              }
            },
          },
        },
      );
      owner = await createTestUser(app, 'operator');
    }

    beforeEach(() => {
      clock = new ManualClock(T0);
      crashBeforeCommit = false;
    });
    afterEach(async () => {
      await app?.dispose();
      await fake?.stop();
    });

    const get = async <T>(url: string, user: TestUser = owner) => {
      const res = await app.http.inject({ method: 'GET', url, headers: user.headers });
      return { status: res.statusCode, body: (res.body ? res.json() : null) as T };
    };

    /** The browser's trip: Tacho → Tesla's authorize page → back to Tacho's callback → the dashboard. */
    async function signIn(user: TestUser = owner): Promise<string> {
      const start = await get<{ url: string }>('/api/v1/connectors/tesla/start', user);
      expect(start.status).toBe(200);
      const authorize = new URL(start.body.url);
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorize.searchParams.get('scope')).toBe(
        'openid offline_access vehicle_device_data vehicle_location',
      );
      const atTesla = await fetch(start.body.url, { redirect: 'manual' });
      expect(atTesla.status).toBe(302);
      const back = new URL(atTesla.headers.get('location')!);
      const callback = await app.http.inject({
        method: 'GET',
        url: `${back.pathname}${back.search}`,
        headers: user.headers,
      });
      expect(callback.statusCode).toBe(302);
      return callback.headers.location as string;
    }

    async function connectWithCar(): Promise<{ accountId: string; vehicleId: string }> {
      fake.addCar({ id: '3744582737186151', vin: VIN, displayName: 'Red', state: 'asleep' });
      const page = await signIn();
      expect(page).toMatch(/^\/settings\/connected-accounts\?tesla=connected&account=/);
      const accountId = new URL(page, 'http://x').searchParams.get('account')!;
      const add = await app.http.inject({
        method: 'POST',
        url: `/api/v1/connectors/tesla/accounts/${accountId}/vehicles`,
        headers: owner.headers,
        payload: { vin: VIN },
      });
      expect(add.statusCode).toBe(201);
      return { accountId, vehicleId: add.json().vehicleId };
    }

    /** Moves the clock in steps of `stepMs`, letting the poller do what is due at each. */
    async function run(ms: number, stepMs = 1000, each?: (elapsedMs: number) => void): Promise<void> {
      for (let t = 0; t < ms; t += stepMs) {
        each?.(t);
        await app.tesla.poller!.tick();
        clock.advance(stepMs);
      }
    }

    it('signs in with PKCE, lists the vehicles, adds one as a Tesla of its owner, and keeps no token in sight', async () => {
      await startApp();
      fake.addCar({ id: '3744582737186151', vin: VIN, displayName: 'Red', state: 'asleep' });
      fake.addCar({ id: '3744582737186152', vin: VIN2, displayName: 'Blue', state: 'online' });
      const page = await signIn();
      const accountId = new URL(page, 'http://x').searchParams.get('account')!;
      const list = await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts');
      expect(list.body).toMatchObject({
        configured: true,
        items: [
          {
            id: accountId,
            label: 'owner@example.org',
            state: 'connected',
            vehicleCount: 0,
            ownerId: owner.id,
          },
        ],
      });
      const cars = await get<TeslaVehicleList>(`/api/v1/connectors/tesla/accounts/${accountId}/vehicles`);
      expect(cars.body.items).toEqual([
        { vin: VIN, name: 'Red', state: 'asleep', vehicleId: null, pollState: null },
        { vin: VIN2, name: 'Blue', state: 'online', vehicleId: null, pollState: null },
      ]);
      const add = await app.http.inject({
        method: 'POST',
        url: `/api/v1/connectors/tesla/accounts/${accountId}/vehicles`,
        headers: owner.headers,
        payload: { vin: VIN },
      });
      expect(add.statusCode).toBe(201);
      const vehicle = await get<{ vin: string; make: string; ownerId: string; name: string }>(
        `/api/v1/vehicles/${add.json().vehicleId}`,
      );
      expect(vehicle.body).toMatchObject({ vin: VIN, make: 'Tesla', ownerId: owner.id, name: 'Red' });
      // Listing the account's cars woke none, and no token is in any reply or row left unsealed.
      expect(fake.counts.wake_up).toBe(0);
      expect(fake.cars[0]!.state).toBe('asleep');
      const row = await app.storage.db.selectFrom('connector_accounts').selectAll().executeTakeFirstOrThrow();
      for (const column of ['access_token', 'refresh_token', 'id_token'] as const)
        expect(row[column]?.startsWith('tv1:')).toBe(true);
      const tokens = await app.tesla.accounts.tokens(accountId);
      expect(JSON.stringify(row)).not.toContain(tokens.refreshToken!);
      expect(JSON.stringify(row)).not.toContain(tokens.accessToken!);
      expect(JSON.stringify(list.body)).not.toContain(tokens.accessToken!);
    });

    it("refuses a callback in another user's browser, an expired or reused state, and a viewer starting", async () => {
      await startApp();
      const other = await createTestUser(app, 'operator');
      const viewer = await createTestUser(app, 'viewer');
      expect((await get('/api/v1/connectors/tesla/start', viewer)).status).toBe(403);
      const start = await get<{ url: string }>('/api/v1/connectors/tesla/start');
      const back = new URL((await fetch(start.body.url, { redirect: 'manual' })).headers.get('location')!);
      const wrong = await app.http.inject({
        method: 'GET',
        url: `${back.pathname}${back.search}`,
        headers: other.headers,
      });
      expect(wrong.headers.location).toBe('/settings/connected-accounts?tesla_error=signed_out');
      // The state was spent by that try: single use.
      const again = await app.http.inject({
        method: 'GET',
        url: `${back.pathname}${back.search}`,
        headers: owner.headers,
      });
      expect(again.headers.location).toBe('/settings/connected-accounts?tesla_error=expired');
      // An attempt older than ten minutes is gone.
      const late = await get<{ url: string }>('/api/v1/connectors/tesla/start');
      const lateBack = new URL((await fetch(late.body.url, { redirect: 'manual' })).headers.get('location')!);
      clock.advance(11 * 60_000);
      const expired = await app.http.inject({
        method: 'GET',
        url: `${lateBack.pathname}${lateBack.search}`,
        headers: owner.headers,
      });
      expect(expired.headers.location).toBe('/settings/connected-accounts?tesla_error=expired');
      // The owner said no at Tesla.
      fake.consent = 'deny';
      expect(await signIn()).toBe('/settings/connected-accounts?tesla_error=denied');
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items).toEqual([]);
    });

    it('finishes a sign-in whose browser came back signed out, once its login is renewed', async () => {
      await startApp();
      const start = await get<{ url: string }>('/api/v1/connectors/tesla/start');
      const back = new URL((await fetch(start.body.url, { redirect: 'manual' })).headers.get('location')!);
      // No cookie came along (the access cookie ran out while at Tesla): the page gets Tesla's answer in
      // its fragment, which no server sees; nothing is spent yet.
      const anonymous = await app.http.inject({ method: 'GET', url: `${back.pathname}${back.search}` });
      const location = anonymous.headers.location as string;
      expect(location.startsWith('/settings/connected-accounts#tesla_finish=')).toBe(true);
      const sent = new URLSearchParams(decodeURIComponent(location.split('#tesla_finish=')[1]!));
      expect(sent.get('state')).toBe(back.searchParams.get('state'));
      // Someone else's login cannot finish it (and spends it)...
      const other = await createTestUser(app, 'operator');
      const body = { state: sent.get('state'), code: sent.get('code') };
      const stolen = await app.http.inject({
        method: 'POST',
        url: '/api/v1/connectors/tesla/finish',
        headers: other.headers,
        payload: body,
      });
      expect(stolen.json()).toEqual({ outcome: 'error', error: 'signed_out' });
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts', other)).body.items).toEqual(
        [],
      );
      // ...the owner's renewed login does, with a fresh attempt.
      const again = await get<{ url: string }>('/api/v1/connectors/tesla/start');
      const back2 = new URL((await fetch(again.body.url, { redirect: 'manual' })).headers.get('location')!);
      const finished = await app.http.inject({
        method: 'POST',
        url: '/api/v1/connectors/tesla/finish',
        headers: owner.headers,
        payload: { state: back2.searchParams.get('state'), code: back2.searchParams.get('code') },
      });
      expect(finished.json()).toMatchObject({ outcome: 'connected', accountId: expect.any(String) });
      const list = await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts');
      expect(list.body.items.map((a) => a.id)).toEqual([finished.json().accountId]);
    });

    it('shows an account only to its owner and admins; others get 404', async () => {
      await startApp();
      const { accountId } = await connectWithCar();
      const other = await createTestUser(app, 'operator');
      const admin = await createTestUser(app, 'admin');
      expect((await get(`/api/v1/connectors/tesla/accounts/${accountId}/vehicles`, other)).status).toBe(404);
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts', other)).body.items).toEqual(
        [],
      );
      expect(
        (await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts', admin)).body.items,
      ).toHaveLength(1);
      const del = (user: TestUser) =>
        app.http.inject({
          method: 'DELETE',
          url: `/api/v1/connectors/tesla/accounts/${accountId}`,
          headers: user.headers,
        });
      expect((await del(other)).statusCode).toBe(404);
      expect((await del(admin)).statusCode).toBe(204);
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items).toEqual([]);
      expect(await app.storage.db.selectFrom('connector_accounts').selectAll().execute()).toEqual([]);
    });

    it('never wakes a sleeping car, records a drive and a charge as sessions, and lets the car fall asleep', async () => {
      await startApp();
      const { vehicleId } = await connectWithCar();
      // An hour asleep: only the vehicle list, once a minute; no vehicle_data, no wake_up.
      await run(60 * 60_000, 5000);
      expect(fake.counts.vehicle_data).toBe(0);
      expect(fake.counts.wake_up).toBe(0);
      expect(fake.counts.vehicles).toBeGreaterThanOrEqual(59);
      expect(fake.counts.vehicles).toBeLessThanOrEqual(62);

      // The owner drives off: 10 minutes at 50 mph, then parks.
      const car = fake.cars[0]!;
      fake.update(car.id, { state: 'online', shift: 'D', speedMph: 50 });
      await run(10 * 60_000, 1000, (t) => {
        if (t % 5000 === 0)
          fake.update(car.id, {
            odometerMi: car.odometerMi + 50 / 720,
            lat: car.lat + 0.001,
            batteryLevel: 70 - Math.floor(t / 120_000),
          });
      });
      fake.update(car.id, { shift: null, speedMph: null });
      await run(60_000);
      // Plugged in: 20 minutes of charging, then complete.
      fake.update(car.id, { chargingState: 'Charging', chargerPowerKw: 11 });
      await run(20 * 60_000, 5000, (t) => {
        if (t % 30_000 === 0)
          fake.update(car.id, {
            chargeEnergyAddedKwh: (t / 3_600_000) * 11,
            batteryLevel: 65 + Math.floor(t / 120_000),
          });
      });
      fake.update(car.id, { chargingState: 'Complete', chargerPowerKw: 0 });
      const dataBeforeIdle = fake.counts.vehicle_data;
      // Parked, idle: data for 15 minutes, then Tacho stops asking so the car can sleep (it does, after 11).
      await run(60 * 60_000, 5000);
      expect(car.state).toBe('asleep');
      expect(fake.counts.vehicle_data - dataBeforeIdle).toBeLessThanOrEqual(17);
      expect(fake.counts.wake_up).toBe(0);
      expect(fake.dataWhileAsleep).toBe(0);

      await waitUntil('a drive and a charge are recorded', async () => {
        const page = await get<SessionPage>(`/api/v1/vehicles/${vehicleId}/sessions`);
        const kinds = page.body.items.filter((s) => s.endMs !== null).map((s) => s.kind);
        return kinds.includes('drive') && kinds.includes('charge');
      });
      const sessions = (await get<SessionPage>(`/api/v1/vehicles/${vehicleId}/sessions`)).body.items;
      const drive = sessions.find((s) => s.kind === 'drive')!;
      expect(drive.stats.distance_km).toBeGreaterThan(10);
      const charge = sessions.find((s) => s.kind === 'charge')!;
      expect(charge.stats.energy_added_kwh!).toBeGreaterThan(3);
      // Every sample of the connector is stored as coming from the Fleet API, once.
      const sources = await app.storage.db
        .selectFrom('samples')
        .select('source')
        .distinct()
        .where('vehicle_id', '=', vehicleId)
        .execute();
      expect(sources).toEqual([{ source: 'tesla-api' }]);
    });

    it("obeys 429 with Retry-After and keeps to the account's daily budget, which starts again at 00:00 UTC", async () => {
      const evening = Date.UTC(2026, 5, 1, 23, 0, 0);
      clock.set(evening);
      await startApp({ TACHO_TESLA_DAILY_REQUESTS: '40' });
      const { accountId } = await connectWithCar();
      const spent = () => fake.counts.vehicles + fake.counts.vehicle_data + fake.counts.rate_limited;
      const today = async () =>
        (await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.requestsToday;
      fake.update(fake.cars[0]!.id, { state: 'online', shift: 'D', speedMph: 30 });
      fake.rateLimit(1, 120);
      await run(60_000, 1000);
      // One 429, then nothing until its Retry-After has passed.
      expect(fake.counts.rate_limited).toBe(1);
      const after429 = spent();
      await run(60_000, 1000);
      expect(spent()).toBe(after429);
      // The drive is polled at its pace, then spread out as the budget runs low; never beyond it.
      await run(Date.UTC(2026, 5, 1, 23, 59, 55) - clock.now(), 5000);
      expect(fake.counts.vehicle_data).toBeGreaterThan(25);
      const used = await today();
      expect(used).toBeLessThanOrEqual(40);
      expect(used).toBeGreaterThanOrEqual(36);
      // Every request Tesla saw was counted (adding the vehicle listed the account's cars once).
      expect(spent()).toBe(used);
      // A new UTC day, a new budget.
      await run(5 * 60_000, 5000);
      expect(spent()).toBeGreaterThan(used);
      expect(await today()).toBeGreaterThan(0);
      expect(await today()).toBeLessThan(40);
      expect(accountId).toBeTruthy();
    });

    it('with two instances, one polls each account and one refreshes its tokens at a time', async () => {
      await startApp();
      const { accountId } = await connectWithCar();
      const first = app.tesla;
      const tokens2 = new TeslaTokenKeeper({
        accounts: first.accounts,
        client: first.client!,
        clock,
        logger: app.logger,
        instanceId: 'instance-2',
      });
      const poller2 = new TeslaPoller({
        accounts: first.accounts,
        client: first.client!,
        tokens: tokens2,
        pipeline: app.telemetry.pipeline,
        clock,
        logger: app.logger,
        instanceId: 'instance-2',
        dailyRequests: 100_000,
      });
      fake.update(fake.cars[0]!.id, { state: 'online', shift: 'D', speedMph: 40 });
      // Both tick every second for a minute of driving: the car is read every 5 s, not twice as often.
      for (let t = 0; t < 60_000; t += 1000) {
        await Promise.all([first.poller!.tick(), poller2.tick()]);
        clock.advance(1000);
      }
      expect(fake.counts.vehicle_data).toBeGreaterThanOrEqual(11);
      expect(fake.counts.vehicle_data).toBeLessThanOrEqual(13);
      // The first stops (its leases go at once): the second goes on with the account.
      await first.poller!.stop();
      const before = fake.counts.vehicle_data;
      for (let t = 0; t < 30_000; t += 1000) {
        await poller2.tick();
        clock.advance(1000);
      }
      // (It claims leases every 5 s: the account is its own within that, then read every 5 s.)
      expect(fake.counts.vehicle_data - before).toBeGreaterThanOrEqual(4);
      // Both find the access token about to expire at once: one refresh at Tesla, one new token for both.
      clock.advance(8 * 3_600_000 - 5 * 60_000);
      const refreshes = fake.counts.refresh;
      const [a, b] = await Promise.all([
        first.tokens!.accessToken(accountId),
        tokens2.accessToken(accountId),
      ]);
      expect(fake.counts.refresh - refreshes).toBe(1);
      expect(a).toBe(b);
      await poller2.stop();
    });

    it('refreshes before the access token expires, rotating the single-use refresh token', async () => {
      await startApp();
      const { accountId } = await connectWithCar();
      const before = await app.tesla.accounts.tokens(accountId);
      clock.advance(8 * 3_600_000 - 5 * 60_000);
      await run(5000);
      expect(fake.counts.refresh).toBe(1);
      const after = await app.tesla.accounts.tokens(accountId);
      expect(after.refreshToken).not.toBe(before.refreshToken);
      expect(after.pendingRefreshToken).toBeNull();
      // The old refresh token is spent at Tesla.
      const reuse = await fetch(`${fake.authUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: CLIENT_ID,
          refresh_token: before.refreshToken!,
        }),
      });
      expect(reuse.status).toBe(401);
      expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.state).toBe(
        'connected',
      );
    });

    it("links the owner's vehicle that has the VIN already, and refuses one that belongs to someone else", async () => {
      await startApp();
      fake.addCar({ id: '3744582737186151', vin: VIN, displayName: 'Red', state: 'asleep' });
      const accountId = new URL(await signIn(), 'http://x').searchParams.get('account')!;
      const add = () =>
        app.http.inject({
          method: 'POST',
          url: `/api/v1/connectors/tesla/accounts/${accountId}/vehicles`,
          headers: owner.headers,
          payload: { vin: VIN },
        });
      // Someone else's vehicle with that VIN: a conflict, nothing linked.
      const other = await createTestUser(app, 'operator');
      const theirs = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: other.headers,
        payload: { name: 'Not yours', vin: VIN },
      });
      expect(theirs.statusCode).toBe(201);
      const refused = await add();
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({ error: { code: 'duplicate_vin' } });
      expect(await app.tesla.accounts.vehicles(accountId)).toEqual([]);
      // The owner's own vehicle with that VIN (made by hand): linked, not doubled.
      await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${theirs.json().id}`,
        headers: other.headers,
      });
      const mine = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { name: 'Mine', vin: VIN },
      });
      const linked = await add();
      expect(linked.statusCode).toBe(201);
      expect(linked.json().vehicleId).toBe(mine.json().id);
      expect((await app.tesla.accounts.vehicles(accountId)).map((v) => v.vehicleId)).toEqual([
        mine.json().id,
      ]);
    });

    it('refuses a malformed VIN, a VIN the account does not have and a bad body, naming the problem; adds nothing', async () => {
      await startApp();
      fake.addCar({ id: '3744582737186151', vin: VIN, displayName: 'Red', state: 'asleep' });
      const accountId = new URL(await signIn(), 'http://x').searchParams.get('account')!;
      const add = (payload: unknown) =>
        app.http.inject({
          method: 'POST',
          url: `/api/v1/connectors/tesla/accounts/${accountId}/vehicles`,
          headers: owner.headers,
          payload: payload as object,
        });
      await expectRefusals(add, [
        [{ vin: 'NOT-A-VIN' }, 400, 'invalid', /vin/],
        [{ vin: 'IOQ3E1EA7KF000017' }, 400, 'invalid_vin', /VIN/],
        [{ vin: VIN2 }, 404, 'tesla_vehicle_not_found', /no vehicle with that VIN/],
        [{}, 400, 'invalid', /vin/],
        [{ vin: 42 }, 400, 'invalid', /vin/],
      ]);
      expect(await app.tesla.accounts.vehicles(accountId)).toEqual([]);
    });

    it('a stored token that does not open (another vault key, a damaged row): that account says "sign in to Tesla again"', async () => {
      await startApp();
      const { accountId } = await connectWithCar();
      // Another account's sealed refresh token in this row: sealed for another row, it must not open here.
      const second = await createTestUser(app, 'operator');
      fake.addCar({ id: '3744582737186152', vin: VIN2, displayName: 'Blue', state: 'asleep' });
      const secondId = new URL(await signIn(second), 'http://x').searchParams.get('account')!;
      await moveSealedToken(
        app.storage.db,
        { accountId: secondId, column: 'refresh_token' },
        { accountId, column: 'refresh_token' },
      );
      await expect(app.tesla.tokens!.refresh(accountId)).rejects.toThrow(/sign in to Tesla again/);
      const mine = (await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!;
      expect(mine).toMatchObject({ state: 'reauth_needed' });
      expect(mine.stateReason).toMatch(/cannot be opened/);
      // The other account is untouched.
      expect(
        (await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts', second)).body.items[0]!.state,
      ).toBe('connected');
    });

    it('keeps the sign-in of an account with no vehicle alive: one refresh a week, not more', async () => {
      await startApp();
      const page = await signIn();
      const accountId = new URL(page, 'http://x').searchParams.get('account')!;
      const before = await app.tesla.accounts.tokens(accountId);
      // Past the access token's 8 hours, nothing to poll: no refresh yet.
      clock.advance(3 * 86_400_000);
      await run(3000);
      expect(fake.counts.refresh).toBe(0);
      // A week past its expiry: one refresh, and the rotated pair works on.
      clock.advance(5 * 86_400_000);
      await run(3000);
      expect(fake.counts.refresh).toBe(1);
      expect((await app.tesla.accounts.tokens(accountId)).refreshToken).not.toBe(before.refreshToken);
      await run(60_000, 5000);
      expect(fake.counts.refresh).toBe(1);
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.state).toBe(
        'connected',
      );
    });

    it('a crash between Tesla\'s answer and the commit: retried once, then "sign in again"; other accounts go on', async () => {
      await startApp();
      const { accountId } = await connectWithCar();
      // A second owner with an account of their own, polling on.
      const second = await createTestUser(app, 'operator');
      fake.addCar({ id: '3744582737186152', vin: VIN2, displayName: 'Blue', state: 'asleep' });
      const secondPage = await signIn(second);
      const secondId = new URL(secondPage, 'http://x').searchParams.get('account')!;
      const add = await app.http.inject({
        method: 'POST',
        url: `/api/v1/connectors/tesla/accounts/${secondId}/vehicles`,
        headers: second.headers,
        payload: { vin: VIN2 },
      });
      expect(add.statusCode).toBe(201);

      crashBeforeCommit = true;
      await expect(app.tesla.tokens!.refresh(accountId)).rejects.toThrow('the process died here');
      const stored = await app.tesla.accounts.tokens(accountId);
      expect(stored.pendingRefreshToken).toBe(stored.refreshToken);
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.state).toBe(
        'refreshing',
      );
      // The poller's next turn retries that token at once; Tesla rotated already: invalid_grant.
      await run(1000);
      expect(fake.counts.refresh).toBe(2);
      const accounts = (await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items;
      expect(accounts[0]).toMatchObject({ state: 'reauth_needed', stateReason: INTERRUPTED_REASON });
      // The poller leaves that account alone and goes on with the other.
      const refreshes = fake.counts.refresh;
      const listsBefore = fake.counts.vehicles;
      await run(5 * 60_000, 5000);
      expect(fake.counts.refresh).toBe(refreshes);
      // The other account's sleeping car: its list once a minute.
      expect(fake.counts.vehicles - listsBefore).toBeGreaterThanOrEqual(4);
      expect(
        (await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts', second)).body.items[0]!.state,
      ).toBe('connected');
      // Signing in again to the same Tesla account mends it (the same account, new tokens).
      // Its vehicles cannot be listed; the reason is said.
      const cars = await get<{ error: { code: string } }>(
        `/api/v1/connectors/tesla/accounts/${accountId}/vehicles`,
      );
      expect(cars).toMatchObject({ status: 409, body: { error: { code: 'tesla_reauth_needed' } } });
      const page = await signIn();
      expect(page).toBe(`/settings/connected-accounts?tesla=connected&account=${accountId}`);
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.state).toBe(
        'connected',
      );
    });

    it('a crash between answer and commit when Tesla takes the same token once more: the retry succeeds', async () => {
      await startApp({}, true);
      const { accountId } = await connectWithCar();
      crashBeforeCommit = true;
      await expect(app.tesla.tokens!.refresh(accountId)).rejects.toThrow('the process died here');
      // The next use retries the same token at once; this Tesla takes it once more.
      await app.tesla.tokens!.accessToken(accountId);
      expect(fake.counts.refresh).toBe(2);
      const tokens = await app.tesla.accounts.tokens(accountId);
      expect(tokens.pendingRefreshToken).toBeNull();
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.state).toBe(
        'connected',
      );
      // An answer lost on the way (Tesla rotated, the connection dropped) is the same case.
      fake.dropNextRefreshAnswer = true;
      await expect(app.tesla.tokens!.refresh(accountId)).rejects.toThrow();
      await app.tesla.tokens!.refresh(accountId);
      expect((await get<TeslaAccountList>('/api/v1/connectors/tesla/accounts')).body.items[0]!.state).toBe(
        'connected',
      );
    });
  });
}
