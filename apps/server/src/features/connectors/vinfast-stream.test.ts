import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { type FakeVinFast, startFakeVinFast } from '../../test/fake-vinfast.js';
import {
  endpointsFor,
  VinFastCallFailed,
  VinFastCloud,
  type VinFastSettings,
  VinFastSignInRefused,
  type VinFastTokens,
  VinFastUnauthorized,
  xHashSigner,
} from './vinfast-cloud.js';
import { presignIotUrl } from './vinfast-sigv4.js';
import { HEARTBEAT_MS, type StreamState, VinFastStream } from './vinfast-stream.js';

const VIN = 'RLLVFAKE0TEST0001';
const EMAIL = 'owner@example.com';
const PASSWORD = 'fake-vinfast-password-7f3a';

const settingsOf = (fake: FakeVinFast, signingKey: string | null = null): VinFastSettings => ({
  authUrl: fake.authUrl,
  apiUrl: fake.apiUrl,
  cognitoUrl: fake.cognitoUrl,
  iotUrl: fake.iotUrl,
  identityPoolId: fake.identityPoolId,
  clientId: null,
  signingKey,
});

describe('the VinFast cloud calls against the fake', () => {
  let fake: FakeVinFast;
  afterEach(() => fake.close());

  it('signs in, lists vehicles, refuses a wrong password naming it, refreshes, and honours a revoked token', async () => {
    fake = await startFakeVinFast();
    fake.addUser({ email: EMAIL, password: PASSWORD, vehicles: [{ vin: VIN, model: 'VF 8', year: 2024 }] });
    const cloud = new VinFastCloud(endpointsFor('vn', settingsOf(fake)), null, Date.now);
    await expect(cloud.signIn(EMAIL, 'wrong')).rejects.toBeInstanceOf(VinFastSignInRefused);
    const refused = await cloud.signIn(EMAIL, 'wrong-password-x').catch((e: Error) => e);
    expect(String(refused)).not.toContain('wrong-password-x');
    const tokens = await cloud.signIn(EMAIL, PASSWORD);
    expect(tokens.refreshToken).toBeTruthy();
    expect(fake.seen.tokenGrants[2]).toEqual({
      grant: 'password',
      clientId: 'jE5xt50qC7oIh1f32qMzA6hGznIU5mgH',
    });
    expect(await cloud.vehicles(tokens.accessToken)).toEqual([
      { vin: VIN, name: 'VF 8', model: 'VF 8', year: 2024 },
    ]);
    fake.expireAccessTokens();
    await expect(cloud.vehicles(tokens.accessToken)).rejects.toBeInstanceOf(VinFastUnauthorized);
    const renewed = await cloud.refresh(tokens.refreshToken!);
    expect(await cloud.vehicles(renewed.accessToken)).toHaveLength(1);
    fake.revokeRefreshTokens(EMAIL);
    await expect(cloud.refresh(tokens.refreshToken!)).rejects.toBeInstanceOf(VinFastSignInRefused);
  });

  it('signs requests when the owner configured a key, and the fake refuses them unsigned', async () => {
    const key = 'owner-configured-test-key';
    fake = await startFakeVinFast({ signingKey: key });
    fake.addUser({ email: EMAIL, password: PASSWORD, vehicles: [{ vin: VIN, model: 'VF 9', year: 2025 }] });
    const unsigned = new VinFastCloud(endpointsFor('vn', settingsOf(fake)), null, Date.now);
    const signed = new VinFastCloud(endpointsFor('vn', settingsOf(fake, key)), xHashSigner(key), Date.now);
    const tokens = await signed.signIn(EMAIL, PASSWORD);
    await expect(unsigned.vehicles(tokens.accessToken)).rejects.toMatchObject({ status: 403 });
    await expect(unsigned.vehicles(tokens.accessToken)).rejects.toBeInstanceOf(VinFastCallFailed);
    expect(await signed.vehicles(tokens.accessToken)).toHaveLength(1);
    await signed.deviceTrust(tokens.accessToken, 'tacho-test');
    await signed.listResource(tokens.accessToken, VIN, [
      { objectId: '34183', instanceId: '1', resourceId: '9' },
    ]);
    expect(fake.seen.listResource).toHaveLength(1);
  });
});

describe('the VinFast stream against the fake', () => {
  let fake: FakeVinFast;
  let clock: ManualClock;
  let stream: VinFastStream;
  let tokens: VinFastTokens;
  let states: Array<[StreamState, string | undefined]>;
  let received: Array<{ vin: string; payload: string }>;
  let cloud: VinFastCloud;

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    fake = await startFakeVinFast({ clock });
    fake.addUser({ email: EMAIL, password: PASSWORD, vehicles: [{ vin: VIN, model: 'VF 8', year: 2024 }] });
    cloud = new VinFastCloud(endpointsFor('vn', settingsOf(fake)), null, () => clock.now());
    tokens = await cloud.signIn(EMAIL, PASSWORD);
    states = [];
    received = [];
    const refresh = async () => {
      const next = await cloud.refresh(tokens.refreshToken!);
      tokens = { ...next, refreshToken: next.refreshToken ?? tokens.refreshToken };
    };
    stream = new VinFastStream({
      clock,
      cloud,
      logger: createLogger('silent'),
      name: 'account-1',
      async withAccess(fn) {
        try {
          return await fn(tokens.accessToken);
        } catch (error) {
          if (!(error instanceof VinFastUnauthorized)) throw error;
          await refresh();
          return fn(tokens.accessToken);
        }
      },
      async idToken(afterRefresh) {
        if (afterRefresh) await refresh();
        return tokens.idToken!;
      },
      vins: () => [VIN],
      resources: () => [{ objectId: '34183', instanceId: '1', resourceId: '9' }],
      async onMessage(vin, _topic, payload) {
        received.push({ vin, payload: payload.toString() });
      },
      onState: (state, reason) => states.push([state, reason]),
    });
  });

  afterEach(async () => {
    await stream.stop();
    await fake.close();
  });

  it('connects, starts the push, receives, beats, renews across the hour, survives a drop and a 401', async () => {
    await stream.tick();
    expect(stream.connected).toBe(true);
    expect(states.map(([s]) => s)).toEqual(['connecting', 'live']);
    await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(1));
    expect(fake.seen.attachPolicy).toHaveLength(1);
    expect(fake.seen.deviceTrust).toEqual([EMAIL]);
    expect(fake.seen.listResource).toEqual([
      { vin: VIN, resources: [{ objectId: '34183', instanceId: '1', resourceId: '9' }] },
    ]);
    await vi.waitFor(() => expect(fake.seen.heartbeats).toEqual([VIN]));

    const records = [{ deviceKey: '34183_00001_00009', value: '80', lastUpdateTime: clock.now() }];
    await fake.push(VIN, records);
    await vi.waitFor(() => expect(received).toEqual([{ vin: VIN, payload: JSON.stringify(records) }]));

    clock.advance(HEARTBEAT_MS);
    await stream.tick();
    await vi.waitFor(() => expect(fake.seen.heartbeats).toHaveLength(2));

    // 55 minutes in: the credentials are renewed and the URL signed again, before the hour ends.
    clock.advance(52 * 60_000);
    await stream.tick();
    expect(fake.seen.iot.filter((c) => c.ok)).toHaveLength(1);
    clock.advance(60_000);
    await stream.tick();
    expect(fake.seen.iot.filter((c) => c.ok)).toHaveLength(2);
    expect(fake.seen.attachPolicy).toHaveLength(2);
    expect(stream.connected).toBe(true);

    // A dropped socket: back off 5 s, then reconnect.
    fake.dropSockets();
    await vi.waitFor(() => expect(stream.connected).toBe(false));
    await stream.tick();
    expect(stream.connected).toBe(false);
    clock.advance(5_000);
    await stream.tick();
    expect(stream.connected).toBe(true);
    await vi.waitFor(() => expect(fake.subscribers(VIN)).toBe(1));

    // Access tokens stop working: the next call refreshes once and goes on.
    fake.expireAccessTokens();
    clock.advance(56 * 60_000);
    await stream.tick();
    expect(stream.connected).toBe(true);
    expect(fake.seen.tokenGrants.map((g) => g.grant)).toContain('refresh_token');
    await fake.push(VIN, records);
    await vi.waitFor(() => expect(received).toHaveLength(2));
  });

  it('backs off 5 → 60 s while the endpoint refuses, and asks for a new sign-in once the refresh token is revoked', async () => {
    fake.revokeRefreshTokens(EMAIL);
    fake.expireAccessTokens();
    await stream.tick();
    expect(stream.connected).toBe(false);
    expect(states.at(-1)).toEqual(['reauth', 'sign in to VinFast again']);
    clock.advance(3_600_000);
    await stream.tick();
    expect(fake.seen.iot).toHaveLength(0);
  });

  it('retries with growing delays when the broker is unreachable', async () => {
    await fake.close();
    const delays: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const before = clock.now();
      await stream.tick();
      delays.push(stream.retryAtMs - before);
      clock.set(stream.retryAtMs);
    }
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    expect(states.at(-1)?.[0]).toBe('waiting');
    fake = await startFakeVinFast({ clock });
  });
});

describe("the fake's AWS IoT endpoint", () => {
  it('refuses a wrong signature, an expired URL and a missing token, and accepts a good URL', async () => {
    const clock = new ManualClock(Date.now());
    const fake = await startFakeVinFast({ clock });
    try {
      fake.addUser({ email: EMAIL, password: PASSWORD, vehicles: [{ vin: VIN, model: 'VF 8', year: 2024 }] });
      const cloud = new VinFastCloud(endpointsFor('vn', settingsOf(fake)), null, () => clock.now());
      const tokens = await cloud.signIn(EMAIL, PASSWORD);
      const creds = await cloud.credentials(tokens.idToken!);
      await cloud.attachPolicy(tokens.accessToken, creds.identityId);
      const sign = (expiresS = 3600) =>
        presignIotUrl({
          url: fake.iotUrl,
          region: 'ap-southeast-1',
          credentials: creds,
          nowMs: clock.now(),
          expiresS,
        });
      const tryConnect = async (url: string) => {
        const client = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000 });
        client.on('error', () => {});
        const ok = await new Promise<boolean>((resolve) => {
          client.once('connect', () => resolve(true));
          client.once('close', () => resolve(false));
        });
        await client.endAsync(true);
        return ok;
      };
      // One hex digit of the signature changed, always to a different one (a fixed '0' left one URL in 16 intact).
      const tampered = sign().replace(
        /X-Amz-Signature=(.)/,
        (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
      );
      expect(await tryConnect(tampered)).toBe(false);
      expect(await tryConnect(sign().replace(/&X-Amz-Security-Token=.*$/, ''))).toBe(false);
      const shortLived = sign(60);
      clock.advance(61_000);
      expect(await tryConnect(shortLived)).toBe(false);
      expect(await tryConnect(sign())).toBe(true);
      expect(fake.seen.iot.map((c) => c.reason ?? 'ok')).toEqual([
        'bad_signature',
        'missing_token',
        'expired',
        'ok',
      ]);
    } finally {
      await fake.close();
    }
  });
});
