import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestUser } from '../../server/src/features/auth/testing.js';
import { createTestApp, type TestApp } from '../../server/src/test/app.js';
import { simulate } from './simulate.js';
import { createSimVehicles, parseTokensFile, randomVin } from './simulate-targets.js';

describe('tacho simulate', () => {
  let app: TestApp;
  let base: string;

  beforeEach(async () => {
    app = await createTestApp('sqlite', {}, { mqttPort: 0 });
    base = await app.listen();
  });
  afterEach(async () => {
    await app.dispose();
  });

  const count = async () =>
    Number(
      (
        await app.storage.db
          .selectFrom('samples')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('creates vehicles through the API and publishes over MQTT; every acknowledged message is stored', async () => {
    const admin = await createTestUser(app, 'admin');
    const vehicles = await createSimVehicles(base, admin.token, 3);
    const stats = await simulate({
      vehicles,
      url: `mqtt://127.0.0.1:${app.broker!.port}`,
      rateHz: 20,
      durationS: 1.5,
    });
    expect(stats.failed).toBe(0);
    expect(stats.acknowledged).toBe(stats.sent);
    expect(stats.sent).toBeGreaterThanOrEqual(3 * 20);
    expect(await count()).toBe(stats.acknowledged);
  });

  it('publishes over HTTP and over MQTT-over-WebSocket', async () => {
    const admin = await createTestUser(app, 'admin');
    const vehicles = await createSimVehicles(base, admin.token, 2);
    const overHttp = await simulate({ vehicles, url: base, rateHz: 10, durationS: 1 });
    const overWs = await simulate({
      vehicles,
      url: `${base.replace(/^http/, 'ws')}/mqtt`,
      rateHz: 10,
      durationS: 1,
    });
    expect(overHttp.failed + overWs.failed).toBe(0);
    expect(await count()).toBe(overHttp.acknowledged + overWs.acknowledged);
  });

  it('simulates a phone without a VIN by its id, over MQTT and HTTP (issue 20.1)', async () => {
    const owner = await createTestUser(app, 'operator');
    const phone = (
      await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { name: 'Phone', kind: 'phone' },
      })
    ).json() as { id: string };
    const token = (
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${phone.id}/tokens`,
        headers: owner.headers,
      })
    ).json().token as string;
    const vehicles = [{ vin: phone.id, token }];
    const overMqtt = await simulate({
      vehicles,
      url: `mqtt://127.0.0.1:${app.broker!.port}`,
      rateHz: 10,
      durationS: 1,
    });
    const overHttp = await simulate({ vehicles, url: base, rateHz: 10, durationS: 1 });
    expect(overMqtt.failed + overHttp.failed).toBe(0);
    expect(overMqtt.acknowledged).toBeGreaterThan(0);
    expect(await count()).toBe(overMqtt.acknowledged + overHttp.acknowledged);
  });

  it('reads a tokens file and makes valid VINs', () => {
    expect(parseTokensFile('# vin token\nABC tacho_1\n\n DEF  tacho_2 \n')).toEqual([
      { vin: 'ABC', token: 'tacho_1' },
      { vin: 'DEF', token: 'tacho_2' },
    ]);
    expect(randomVin()).toMatch(/^[A-HJ-NPR-Z0-9]{17}$/);
  });
});
