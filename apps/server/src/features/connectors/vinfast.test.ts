import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { expectRefusals, moveSealedToken } from '../../test/connector-accounts.js';
import { type FakeVinFast, recordedRecord, startFakeVinFast } from '../../test/fake-vinfast.js';
import { clusterProblem, startCluster } from '../../test/instances.js';
import { recordSecrets } from '../../test/log-leaks.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';

const EMAIL = 'Owner@Example.com';
// Registered with the log-leak check below: it must never reach a log.
const PASSWORD = 'vinfast-test-password-Qx7m2Lr9Tz4w';
const VIN = 'RLLVFTEST00000001';

/** Settings that point the connector at the fake. */
const fakeEnv = (fake: FakeVinFast) => ({
  TACHO_VINFAST_AUTH_URL: fake.authUrl,
  TACHO_VINFAST_API_URL: fake.apiUrl,
  TACHO_VINFAST_COGNITO_URL: fake.cognitoUrl,
  TACHO_VINFAST_IOT_URL: fake.iotUrl,
  TACHO_VINFAST_COGNITO_POOL_ID: fake.identityPoolId,
});

for (const engine of engines) {
  describe(`VinFast connector [${engine}]`, () => {
    let fake: FakeVinFast;
    let app: TestApp;
    let clock: ManualClock;
    let owner: TestUser;
    let other: TestUser;
    let admin: TestUser;
    let viewer: TestUser;

    const call = (user: TestUser | null, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
      app.http.inject({
        method,
        url,
        headers: user?.headers ?? {},
        ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
      });

    async function connect(user = owner) {
      const res = await call(user, 'POST', '/api/v1/connectors/vinfast/accounts', {
        email: EMAIL,
        password: PASSWORD,
        region: 'vn',
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: string; state: string };
    }

    beforeEach(async () => {
      recordSecrets([PASSWORD]);
      clock = new ManualClock(Date.now());
      fake = await startFakeVinFast({ clock });
      fake.addUser({
        email: EMAIL.toLowerCase(),
        password: PASSWORD,
        vehicles: [
          { vin: VIN, model: 'VF 8', year: 2024, name: 'Blue car' },
          { vin: 'RLLVFTEST00000002', model: 'VF 9', year: 2025 },
        ],
      });
      app = await createTestApp(
        engine,
        {
          TACHO_VINFAST_AUTH_URL: fake.authUrl,
          TACHO_VINFAST_API_URL: fake.apiUrl,
          TACHO_VINFAST_COGNITO_URL: fake.cognitoUrl,
          TACHO_VINFAST_IOT_URL: fake.iotUrl,
          TACHO_VINFAST_COGNITO_POOL_ID: fake.identityPoolId,
        },
        { clock, vinfast: { tickMs: null } },
      );
      owner = await createTestUser(app, 'operator');
      other = await createTestUser(app, 'operator');
      admin = await createTestUser(app, 'admin');
      viewer = await createTestUser(app, 'viewer');
    });
    afterEach(async () => {
      await app.dispose();
      await fake.close();
    });

    it('names what failed: a bad field (400), a wrong VinFast password (401), a viewer (403)', async () => {
      const bad = await call(owner, 'POST', '/api/v1/connectors/vinfast/accounts', {
        email: EMAIL,
        password: PASSWORD,
        region: 'mars',
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('region');
      expect(bad.body).not.toContain(PASSWORD);
      const noEmail = await call(owner, 'POST', '/api/v1/connectors/vinfast/accounts', {
        password: 'x',
        region: 'vn',
      });
      expect(noEmail.statusCode).toBe(400);
      expect(noEmail.body).toContain('email');
      const wrong = await call(owner, 'POST', '/api/v1/connectors/vinfast/accounts', {
        email: EMAIL,
        password: 'not-the-password-Zk81',
        region: 'vn',
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error).toMatchObject({ code: 'vinfast_sign_in_refused' });
      expect(wrong.json().error.message).toMatch(/VinFast refused this email and password/);
      expect(wrong.body).not.toContain('not-the-password-Zk81');
      const byViewer = await call(viewer, 'POST', '/api/v1/connectors/vinfast/accounts', {
        email: EMAIL,
        password: PASSWORD,
        region: 'vn',
      });
      expect(byViewer.statusCode).toBe(403);
    });

    it('refuses a malformed VIN and a VIN the account does not have, and says when VinFast cannot be reached', async () => {
      const account = await connect();
      const add = (payload: unknown) =>
        call(owner, 'POST', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`, payload);
      await expectRefusals(add, [
        [{ vin: 'short' }, 400, 'invalid', /vin/],
        [{ vin: 'IOQ3E1EA7KF000017' }, 400, 'invalid_vin', /VIN/],
        [{ vin: 'RLLVFTEST00000099' }, 404, 'vinfast_vehicle_not_found', /no vehicle with that VIN/],
        [{}, 400, 'invalid', /vin/],
      ]);
      expect((await call(owner, 'GET', '/api/v1/connectors/vinfast/accounts')).json().items[0]).toMatchObject(
        {
          vehicleCount: 0,
        },
      );
      // VinFast's cloud gone: a clear 503, the account kept as it was.
      await fake.close();
      const cars = await call(owner, 'GET', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`);
      expect(cars.statusCode, cars.body).toBe(503);
      expect(cars.json().error).toMatchObject({ code: 'vinfast_unavailable' });
      expect(cars.body).not.toContain(PASSWORD);
      fake = await startFakeVinFast({ clock });
    });

    it('a stored token that does not open (another key, a damaged row): the account says "sign in to VinFast again"', async () => {
      const account = await connect();
      // The refresh token's sealed value in the access token's column: sealed for another column, it must
      // not open there.
      await moveSealedToken(
        app.storage.db,
        { accountId: account.id, column: 'refresh_token' },
        { accountId: account.id, column: 'access_token' },
      );
      const cars = await call(owner, 'GET', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`);
      expect(cars.statusCode, cars.body).toBe(409);
      expect(cars.json().error).toMatchObject({ code: 'vinfast_reauth_needed' });
      expect((await call(owner, 'GET', '/api/v1/connectors/vinfast/accounts')).json().items[0]).toMatchObject(
        {
          state: 'reauth_needed',
        },
      );
    });

    it('connects, lists, adds a vehicle, streams its pushes into the pipeline, and disconnects', async () => {
      const account = await connect();
      expect(account.state).toBe('connected');
      // The password is not stored anywhere; the tokens are sealed.
      const row = await app.storage.db.selectFrom('connector_accounts').selectAll().executeTakeFirstOrThrow();
      expect(JSON.stringify(row)).not.toContain(PASSWORD);
      expect(row.access_token).not.toMatch(/^fakevf_at_/);

      const mine = await call(owner, 'GET', '/api/v1/connectors/vinfast/accounts');
      expect(mine.json().items).toMatchObject([
        { id: account.id, label: EMAIL.toLowerCase(), vehicleCount: 0 },
      ]);
      expect((await call(other, 'GET', '/api/v1/connectors/vinfast/accounts')).json().items).toEqual([]);
      expect((await call(admin, 'GET', '/api/v1/connectors/vinfast/accounts')).json().items).toHaveLength(1);
      expect(
        (await call(other, 'GET', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`)).statusCode,
      ).toBe(404);

      const cars = await call(owner, 'GET', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`);
      expect(cars.json().items).toEqual([
        { vin: VIN, name: 'Blue car', model: 'VF 8', year: 2024, vehicleId: null },
        { vin: 'RLLVFTEST00000002', name: 'VF 9', model: 'VF 9', year: 2025, vehicleId: null },
      ]);
      const added = await call(owner, 'POST', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`, {
        vin: VIN,
      });
      expect(added.statusCode, added.body).toBe(201);
      const vehicleId = added.json().vehicleId as string;
      const vehicle = await call(owner, 'GET', `/api/v1/vehicles/${vehicleId}`);
      expect(vehicle.json()).toMatchObject({ make: 'VinFast', model: 'VF 8', year: 2024, vin: VIN });
      const notTheirs = await call(
        other,
        'POST',
        `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`,
        {
          vin: 'RLLVFTEST00000002',
        },
      );
      expect(notTheirs.statusCode).toBe(404);

      // The runtime takes the account, connects and asks the car to push the keys Tacho maps for a VF 8.
      await app.vinfast.runtime.tick();
      expect(app.vinfast.runtime.stream(account.id)?.connected).toBe(true);
      await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(1));
      expect(fake.seen.listResource[0]?.vin).toBe(VIN);
      expect(fake.seen.listResource[0]?.resources).toContainEqual({
        objectId: '34183',
        instanceId: '1',
        resourceId: '9',
      });
      const listed = await call(owner, 'GET', '/api/v1/connectors/vinfast/accounts');
      expect(listed.json().items[0]).toMatchObject({ stream: 'live', vehicleCount: 1 });

      const ts = clock.now() - 1000;
      await fake.push(VIN, [
        recordedRecord('34183_00001_00009', '81', ts),
        recordedRecord('34183_00001_00007', '12', ts),
      ]);
      await vi.waitFor(
        async () => {
          const state = await call(owner, 'GET', `/api/v1/vehicles/${vehicleId}/state`);
          expect(state.statusCode).toBe(200);
          expect(state.body).toContain('battery_level_pct');
        },
        { timeout: 15_000, interval: 100 },
      );

      const gone = await call(owner, 'DELETE', `/api/v1/connectors/vinfast/accounts/${account.id}`);
      expect(gone.statusCode).toBe(204);
      expect(await app.storage.db.selectFrom('connector_accounts').selectAll().execute()).toEqual([]);
      await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(0));
      // The Tacho vehicle and its data stay.
      expect((await call(owner, 'GET', `/api/v1/vehicles/${vehicleId}`)).statusCode).toBe(200);
    });

    it('refreshes on a 401, and shows "sign in to VinFast again" once the refresh token is revoked', async () => {
      const account = await connect();
      fake.expireAccessTokens();
      const cars = await call(owner, 'GET', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`);
      expect(cars.statusCode, cars.body).toBe(200);
      expect(fake.seen.tokenGrants.map((g) => g.grant)).toEqual(['password', 'refresh_token']);

      fake.expireAccessTokens();
      fake.revokeRefreshTokens(EMAIL);
      const refused = await call(owner, 'GET', `/api/v1/connectors/vinfast/accounts/${account.id}/vehicles`);
      expect(refused.statusCode).toBe(409);
      expect(refused.json().error.code).toBe('vinfast_reauth_needed');
      const listed = await call(owner, 'GET', '/api/v1/connectors/vinfast/accounts');
      expect(listed.json().items[0]).toMatchObject({
        state: 'reauth_needed',
        stateReason: 'sign in to VinFast again',
      });
      // Signing in again brings the account back.
      const again = await connect();
      expect(again).toMatchObject({ id: account.id, state: 'connected' });
    });
  });

  describe(`VinFast connector stream and sign-in [${engine}]`, () => {
    it('stops the stream when the refresh token is revoked, and starts it again after a new sign-in', async () => {
      const clock = new ManualClock(Date.now());
      const fake = await startFakeVinFast({ clock });
      recordSecrets([PASSWORD]);
      fake.addUser({
        email: EMAIL.toLowerCase(),
        password: PASSWORD,
        vehicles: [{ vin: VIN, model: 'VF 8', year: 2024 }],
      });
      const app = await createTestApp(engine, fakeEnv(fake), { clock, vinfast: { tickMs: null } });
      try {
        const owner = await createTestUser(app, 'operator');
        const connect = async () => {
          const res = await app.http.inject({
            method: 'POST',
            url: '/api/v1/connectors/vinfast/accounts',
            headers: owner.headers,
            payload: { email: EMAIL, password: PASSWORD, region: 'vn' },
          });
          expect(res.statusCode, res.body).toBe(201);
          return res.json().id as string;
        };
        const id = await connect();
        const added = await app.http.inject({
          method: 'POST',
          url: `/api/v1/connectors/vinfast/accounts/${id}/vehicles`,
          headers: owner.headers,
          payload: { vin: VIN },
        });
        expect(added.statusCode, added.body).toBe(201);
        await app.vinfast.runtime.tick();
        expect(app.vinfast.runtime.stream(id)?.connected).toBe(true);

        // The hour's credentials run out; renewing them needs the API, whose token is gone, and the
        // refresh token was revoked meanwhile.
        fake.expireAccessTokens();
        fake.revokeRefreshTokens(EMAIL);
        clock.advance(56 * 60_000);
        await app.vinfast.runtime.tick();
        const listed = await app.http.inject({
          method: 'GET',
          url: '/api/v1/connectors/vinfast/accounts',
          headers: owner.headers,
        });
        expect(listed.json().items[0]).toMatchObject({
          state: 'reauth_needed',
          stateReason: 'sign in to VinFast again',
        });
        await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(0));

        expect(await connect()).toBe(id);
        await app.vinfast.runtime.tick();
        expect(app.vinfast.runtime.stream(id)?.connected).toBe(true);
        await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(1));
      } finally {
        await app.dispose();
        await fake.close();
      }
    });
  });

  describe(`VinFast connector with the owner's signing key [${engine}]`, () => {
    it('signs every API call when TACHO_VINFAST_SIGNING_KEY_FILE is set, and says what is missing when not', async () => {
      const key = 'owner-supplied-signing-key-for-tests';
      const clock = new ManualClock(Date.now());
      const fake = await startFakeVinFast({ clock, signingKey: key });
      const dir = mkdtempSync(join(tmpdir(), 'tacho-vinfast-key-'));
      const keyFile = join(dir, 'vinfast.key');
      writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
      recordSecrets([key, PASSWORD]);
      fake.addUser({
        email: EMAIL.toLowerCase(),
        password: PASSWORD,
        vehicles: [{ vin: VIN, model: 'VF 8', year: 2024 }],
      });
      const env = fakeEnv(fake);
      const unsigned = await createTestApp(engine, env, { clock, vinfast: { tickMs: null } });
      const signed = await createTestApp(
        engine,
        { ...env, TACHO_VINFAST_SIGNING_KEY_FILE: keyFile },
        { clock, vinfast: { tickMs: null } },
      );
      try {
        const body = { email: EMAIL, password: PASSWORD, region: 'vn' };
        const alice = await createTestUser(unsigned, 'operator');
        const refused = await unsigned.http.inject({
          method: 'POST',
          url: '/api/v1/connectors/vinfast/accounts',
          headers: alice.headers,
          payload: body,
        });
        expect(refused.statusCode).toBe(503);
        expect(refused.json().error).toMatchObject({ code: 'vinfast_refused' });
        expect(refused.json().error.message).toContain('TACHO_VINFAST_SIGNING_KEY_FILE');

        const bob = await createTestUser(signed, 'operator');
        const ok = await signed.http.inject({
          method: 'POST',
          url: '/api/v1/connectors/vinfast/accounts',
          headers: bob.headers,
          payload: body,
        });
        expect(ok.statusCode, ok.body).toBe(201);
        const account = ok.json().id as string;
        const added = await signed.http.inject({
          method: 'POST',
          url: `/api/v1/connectors/vinfast/accounts/${account}/vehicles`,
          headers: bob.headers,
          payload: { vin: VIN },
        });
        expect(added.statusCode, added.body).toBe(201);
        await signed.vinfast.runtime.tick();
        expect(signed.vinfast.runtime.stream(account)?.connected).toBe(true);
        expect(fake.seen.listResource.map((r) => r.vin)).toEqual([VIN]);
        // The key is in no reply and no dump of the config.
        expect(JSON.stringify(signed.config)).not.toContain(key);
      } finally {
        await signed.dispose();
        await unsigned.dispose();
        await fake.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const cluster = await clusterProblem();
describe.skipIf(cluster)('VinFast connector on two instances', () => {
  it('streams each account from one instance only, and the other takes over when it stops', async () => {
    const clock = new ManualClock(Date.now());
    const fake = await startFakeVinFast({ clock });
    recordSecrets([PASSWORD]);
    fake.addUser({
      email: EMAIL.toLowerCase(),
      password: PASSWORD,
      vehicles: [{ vin: VIN, model: 'VF 8', year: 2024 }],
    });
    const { one, two, dispose } = await startCluster({ clock, vinfast: { tickMs: null } }, fakeEnv(fake));
    try {
      const owner = await createTestUser(one, 'operator');
      const res = await one.http.inject({
        method: 'POST',
        url: '/api/v1/connectors/vinfast/accounts',
        headers: owner.headers,
        payload: { email: EMAIL, password: PASSWORD, region: 'vn' },
      });
      expect(res.statusCode, res.body).toBe(201);
      const id = res.json().id as string;
      const added = await one.http.inject({
        method: 'POST',
        url: `/api/v1/connectors/vinfast/accounts/${id}/vehicles`,
        headers: owner.headers,
        payload: { vin: VIN },
      });
      expect(added.statusCode, added.body).toBe(201);
      await Promise.all([one.vinfast.runtime.tick(), two.vinfast.runtime.tick()]);
      await Promise.all([one.vinfast.runtime.tick(), two.vinfast.runtime.tick()]);
      const holders = [one, two].filter((app) => app.vinfast.runtime.stream(id)?.connected);
      expect(holders).toHaveLength(1);
      await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(1));
      // The holder stops (a clean shutdown gives its lease up): the other takes the account over.
      const [holder] = holders;
      const other = holder === one ? two : one;
      await holder!.vinfast.close();
      clock.advance(20_000);
      await other.vinfast.runtime.tick();
      expect(other.vinfast.runtime.stream(id)?.connected).toBe(true);
      await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(1));
    } finally {
      await dispose();
      await fake.close();
    }
  });
});
