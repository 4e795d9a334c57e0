import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { isStrongDeviceId } from './device-ids.js';
import { createTestVehicle, storedFor, type TestVehicle } from './test-setup.js';

const T = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('the rule for Traccar Client ids that authenticate alone', () => {
  it.each([
    ['1', 'one character'],
    ['912345', "old Traccar Client's generated 6 digits"],
    ['48213907', "Traccar Client's generated 8 digits"],
    ['356938035643809', 'an IMEI (15 digits)'],
    ['4915112345678', 'a phone number'],
    ['aaaaaaaaaaaa', 'one character repeated'],
    ['abcabcabcabc', 'three characters repeated'],
    ['abcdefghijkl', 'a run of letters'],
    ['123456789012', 'a run of digits'],
    ['aabbccddeeff', 'pairs in a run'],
    ['a1b2c3d4e5', 'ten characters'],
  ])('refuses %s (%s)', (id) => {
    expect(isStrongDeviceId(id)).toBe(false);
  });

  it.each([
    ['0e5f87c2-8d3b-4c71-9a64-2b1f7e9d3c58', 'a UUID'],
    ['9f2c4e71a08b3d56e1c7', 'hexadecimal, 20 characters'],
    ['Xq7PzK2mRv9T', 'letters and digits, 12 characters'],
    ['82047519360284715937', 'random digits, 20 of them'],
    ['tracker-4711', 'a name with a number, 12 characters'],
  ])('accepts %s (%s)', (id) => {
    expect(isStrongDeviceId(id)).toBe(true);
  });
});

for (const engine of engines) {
  describe(`binding Traccar Client ids [${engine}]`, () => {
    let app: TestApp;
    let car: TestVehicle;
    const warnings: Array<Record<string, unknown>> = [];

    beforeEach(async () => {
      warnings.length = 0;
      const logger = createLogger('warn', { write: (line: string) => warnings.push(JSON.parse(line)) });
      app = await createTestApp(engine, {}, { logger });
      car = await createTestVehicle(app);
    });
    afterEach(async () => {
      await app.dispose();
    });

    const bind = (vehicle: TestVehicle, deviceId: string) =>
      app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${vehicle.id}/devices`,
        headers: vehicle.owner.headers,
        payload: { kind: 'osmand', deviceId },
      });
    const position = (id: string, extra = '') =>
      app.http.inject({
        method: 'GET',
        url: `/api/v1/ingest/osmand?id=${encodeURIComponent(id)}&lat=48.1&lon=11.5&timestamp=${T / 1000}${extra}`,
      });

    it('refuses ids that are short, digits only (below 20) or a pattern, with 400 invalid_device_id', async () => {
      for (const id of ['1', '48213907', '356938035643809', 'aaaaaaaaaaaa', 'abcdefghijkl']) {
        const res = await bind(car, id);
        expect(res.statusCode, id).toBe(400);
        expect(res.json().error.code, id).toBe('invalid_device_id');
      }
      const list = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${car.id}/devices`,
        headers: car.owner.headers,
      });
      expect(list.json()).toEqual([]);
    });

    it("answers an id bound to another user's vehicle exactly like a weak one: nothing confirms it exists", async () => {
      const id = '0e5f87c2-8d3b-4c71-9a64-2b1f7e9d3c58';
      expect((await bind(car, id)).statusCode).toBe(201);
      const stranger = await createTestVehicle(app);
      const taken = await bind(stranger, id);
      const weak = await bind(stranger, '1');
      expect(taken.statusCode).toBe(weak.statusCode);
      expect(taken.json()).toEqual(weak.json());
      expect(taken.json()).toEqual({
        error: { code: 'invalid_device_id', message: expect.stringContaining('cannot be bound') },
      });
      // The owner binding it again is no conflict.
      expect((await bind(car, id)).statusCode).toBe(201);
    });

    it('a strong bound id authenticates alone', async () => {
      expect((await bind(car, '9f2c4e71a08b3d56e1c7')).statusCode).toBe(201);
      const res = await position('9f2c4e71a08b3d56e1c7');
      expect(res.statusCode, res.body).toBe(200);
      expect((await storedFor(app, car.id)).samples).toHaveLength(1);
    });

    it('a weak id bound before the rule no longer authenticates alone: answered like an unknown id, logged once; with a token it still works', async () => {
      // As an older version stored it.
      await app.storage.db
        .insertInto('device_bindings')
        .values({
          kind: 'osmand',
          device_id: '912345',
          vehicle_id: car.id,
          secret: null,
          created_by: car.owner.id,
          created_ms: T,
        })
        .execute();
      const weak = await position('912345');
      const unknown = await position('no-such-device-id-anywhere');
      expect(weak.statusCode).toBe(401);
      expect(weak.json()).toEqual(unknown.json());
      await position('912345');
      const told = warnings.filter((w) => String(w.msg).includes('too weak to authenticate alone'));
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({ level: 'warn', vehicleId: car.id, idLength: 6 });
      expect(JSON.stringify(warnings)).not.toContain('912345');
      expect((await storedFor(app, car.id)).samples).toHaveLength(0);

      const withToken = await position('912345', `&token=${car.token}`);
      expect(withToken.statusCode, withToken.body).toBe(200);
      expect((await storedFor(app, car.id)).samples).toHaveLength(1);
    });

    it('a body over the limit sent with such a weak id is refused like an unknown id, and not kept', async () => {
      await app.storage.db
        .insertInto('device_bindings')
        .values({
          kind: 'osmand',
          device_id: '912345',
          vehicle_id: car.id,
          secret: null,
          created_by: car.owner.id,
          created_ms: T,
        })
        .execute();
      const oversized = (id: string) =>
        app.http.inject({
          method: 'POST',
          url: `/api/v1/ingest/osmand?id=${id}`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: `lat=1&lon=2&pad=${'x'.repeat(300_000)}`,
        });
      const weak = await oversized('912345');
      const unknown = await oversized('no-such-device-id-anywhere');
      expect(weak.statusCode).toBe(401);
      expect(weak.json()).toEqual(unknown.json());
      expect((await storedFor(app, car.id)).deadLetters).toEqual([]);
    });
  });
}
