import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { FleetTelemetryPublisher } from '../../test/fleet-telemetry.js';
import { engines } from '../../test/storage.js';
import type { TestUser } from '../auth/testing.js';
import { TESLA_FLEET_USERNAME } from './index.js';
import { createTestVehicle, storedFor, type TestVehicle } from './test-setup.js';

/**
 * Tesla Fleet Telemetry through the embedded broker, published the way fleet-telemetry's MQTT dispatcher
 * does (test/fleet-telemetry.ts), logged in as `tesla-fleet-telemetry` with an API token of scope
 * `telemetry`.
 */
const T0 = Date.UTC(2026, 0, 15, 8, 0, 0);

/** Polls until `check` holds (then returns the value) or fails after 10 s with what it saw last. */
async function waitFor<T>(read: () => Promise<T>, check: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const engine of engines) {
  describe(`Tesla fleet-telemetry over the embedded broker [${engine}]`, () => {
    let app: TestApp;
    let clock: ManualClock;
    let car: TestVehicle;
    let owner: TestUser;
    let telemetryToken: string;
    let url: string;
    let lines: string[];
    const publishers: FleetTelemetryPublisher[] = [];

    const audit = () =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);

    async function fleet(options: { password?: string; qos?: 0 | 1 } = {}) {
      const publisher = await FleetTelemetryPublisher.connect({
        url,
        username: TESLA_FLEET_USERNAME,
        password: options.password ?? telemetryToken,
        qos: options.qos ?? 1,
      });
      publishers.push(publisher);
      return publisher;
    }

    beforeEach(async () => {
      lines = [];
      clock = new ManualClock(T0);
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      app = await createTestApp(engine, {}, { mqttPort: 0, clock, logger });
      url = `mqtt://127.0.0.1:${app.broker!.port}`;
      car = await createTestVehicle(app, { make: 'Tesla', model: 'Model 3', year: 2024 });
      owner = car.owner;
      ({ token: telemetryToken } = await app.auth.tokens.create({
        userId: owner.id,
        name: 'fleet-telemetry',
        scopes: ['telemetry'],
      }));
    });
    afterEach(async () => {
      await Promise.all(publishers.splice(0).map((p) => p.end().catch(() => {})));
      await app.dispose();
    });

    it("groups one record's field messages into one sample at its receipt time; PUBACKs after commit", async () => {
      const tesla = await fleet();
      await tesla.record(car.vin, {
        BatteryLevel: 80,
        Soc: '79.5',
        VehicleSpeed: '0',
        Gear: 'ShiftStateP',
        Odometer: 1000,
        Location: { latitude: 48.137154, longitude: 11.576124 },
        InsideTemp: 21.5,
        TpmsPressureFl: 2.9,
        DetailedChargeState: 'DetailedChargeStateDisconnected',
        EnergyRemaining: 55.2,
        SomethingNew: 'x',
        OutsideTemp: null,
      });
      // The PUBACKs have all arrived: the sample must be there already.
      const stored = await storedFor(app, car.id);
      expect(stored.samples).toHaveLength(1);
      expect(stored.samples[0]).toMatchObject({
        ts_ms: T0,
        source: 'tesla',
        lat: 48.137154,
        lon: 11.576124,
        metrics: {
          battery_level_pct: 80,
          speed_kmh: 0,
          gear: 'P',
          odometer_km: 1609.344,
          inside_temp_c: 21.5,
          tyre_pressure_fl_kpa: 290,
          charging_state: 'disconnected',
        },
      });
      expect(stored.raw).toMatchObject({
        BatteryLevel: { value: 80, canonical: 'battery_level_pct', unit: '%' },
        Soc: { value: 79.5 },
        VehicleSpeed: { value: 0, canonical: 'speed_kmh', unit: 'mph' },
        EnergyRemaining: { value: 55.2, canonical: null },
        SomethingNew: { value: 'x', canonical: null },
      });
      expect(stored.raw.OutsideTemp).toBeUndefined();
      expect(stored.deadLetters).toEqual([]);

      clock.advance(30_000);
      await tesla.record(car.vin, { BatteryLevel: 79, VehicleSpeed: 0 });
      const again = await storedFor(app, car.id);
      expect(again.samples.map((s) => [s.ts_ms, s.metrics.battery_level_pct])).toEqual([
        [T0, 80],
        [T0 + 30_000, 79],
      ]);
      expect(again.state).toMatchObject({ battery_level_pct: 79, gear: 'P', odometer_km: 1609.344 });
    });

    it('starts a new sample when a field comes again inside the window: nothing lost, nothing doubled', async () => {
      const tesla = await fleet();
      await Promise.all([
        tesla.publish(tesla.fieldTopic(car.vin, 'BatteryLevel'), '80'),
        tesla.publish(tesla.fieldTopic(car.vin, 'VehicleSpeed'), '10'),
        tesla.publish(tesla.fieldTopic(car.vin, 'BatteryLevel'), '"79"'),
        tesla.publish(tesla.fieldTopic(car.vin, 'InsideTemp'), '20'),
      ]);
      const { samples } = await storedFor(app, car.id);
      // Same receipt millisecond: the second sample takes the next one, so neither hides the other.
      expect(samples.map((s) => [s.ts_ms, s.metrics])).toEqual([
        [T0, { battery_level_pct: 80, speed_kmh: 16.0934 }],
        [T0 + 1, { battery_level_pct: 79, inside_temp_c: 20 }],
      ]);
    });

    it('groups QoS 0 messages (fleet-telemetry’s default) the same way', async () => {
      const tesla = await fleet({ qos: 0 });
      await tesla.record(car.vin, {
        BatteryLevel: 70,
        VehicleSpeed: 30,
        Gear: 'ShiftStateD',
        OutsideTemp: '4',
      });
      const { samples } = await waitFor(
        () => storedFor(app, car.id),
        (s) => s.samples.length > 0,
        'the QoS 0 sample',
      );
      expect(samples).toHaveLength(1);
      expect(samples[0]!.metrics).toEqual({
        battery_level_pct: 70,
        speed_kmh: 48.2803,
        gear: 'D',
        outside_temp_c: 4,
      });
    });

    it('keeps a malformed payload as a dead letter without holding up the fields around it', async () => {
      const tesla = await fleet();
      await Promise.all([
        tesla.publish(tesla.fieldTopic(car.vin, 'BatteryLevel'), '81'),
        tesla.publish(tesla.fieldTopic(car.vin, 'Soc'), '{not json'),
        tesla.publish(tesla.fieldTopic(car.vin, 'VehicleSpeed'), '900'),
        tesla.publish(tesla.fieldTopic(car.vin, 'Gear'), '"ShiftStateR"'),
        tesla.publish(`${tesla.topicBase}/${car.vin}/v/Bad/Field`, '1'),
      ]);
      const stored = await storedFor(app, car.id);
      expect(stored.samples.map((s) => s.metrics)).toEqual([{ battery_level_pct: 81, gear: 'R' }]);
      expect(stored.raw.VehicleSpeed).toMatchObject({ value: 900 });
      expect(stored.deadLetters).toEqual(
        expect.arrayContaining([
          'tesla: Soc is not JSON',
          expect.stringMatching(/^tesla: VehicleSpeed → speed_kmh: 1448.4096 is above/),
          'tesla: not a topic fleet-telemetry publishes',
        ]),
      );
      expect(tesla.client.connected).toBe(true);
    });

    it('keeps connectivity, alerts and errors as events the deep scan shows', async () => {
      const tesla = await fleet();
      await tesla.connectivity(car.vin, 'CONNECTED', new Date(T0 - 5000));
      await tesla.alert(car.vin, 'ChargePortFault', [
        { startedAt: new Date(T0 - 60_000), audiences: ['Customer'] },
      ]);
      await tesla.error(car.vin, 'ConfigError', 'bad field', { field: 'Foo' }, new Date(T0 - 1000));
      const stored = await storedFor(app, car.id);
      expect(JSON.parse(stored.raw['tesla.connectivity']!.value)).toEqual({
        ConnectionId: 'c1',
        Status: 'CONNECTED',
        CreatedAt: new Date(T0 - 5000).toISOString().replace('.000', ''),
      });
      expect(JSON.parse(stored.raw['tesla.alert.ChargePortFault']!.value)).toMatchObject({
        Audiences: ['Customer'],
      });
      expect(JSON.parse(stored.raw['tesla.error.ConfigError']!.value)).toMatchObject({ Body: 'bad field' });
      // Current and history carry the same alert at the same time: stored once.
      expect(stored.samples.map((s) => s.ts_ms).sort()).toEqual([T0 - 60_000, T0 - 5000, T0 - 1000]);
    });

    it('refuses a token without the telemetry scope, and a bad one, at CONNECT', async () => {
      const refused = (password: string) =>
        fleet({ password }).then(
          () => 'connected',
          (error: Error) => error.message,
        );
      expect(await refused(owner.token)).toMatch(/Not authorized/);
      expect(await refused('tacho_nope')).toMatch(/Bad username or password/);
      expect(await refused(car.token)).toMatch(/Bad username or password/);
      expect(audit().filter((l) => l.event === 'mqtt.connect_refused')).toEqual([
        expect.objectContaining({ vin: TESLA_FLEET_USERNAME, reason: 'the token lacks the telemetry scope' }),
        expect.objectContaining({ vin: TESLA_FLEET_USERNAME, reason: 'bad username or password' }),
      ]);
    });

    it('drops and audits a VIN its user does not manage; refuses topics outside the base and subscriptions', async () => {
      const stranger = await createTestVehicle(app, { make: 'Tesla' });
      const tesla = await fleet();
      await tesla.record(stranger.vin, { BatteryLevel: 50 });
      await tesla.record(car.vin, { BatteryLevel: 51 });
      expect((await storedFor(app, stranger.id)).samples).toEqual([]);
      expect((await storedFor(app, car.id)).samples.map((s) => s.metrics)).toEqual([
        { battery_level_pct: 51 },
      ]);
      expect(audit().find((l) => l.event === 'mqtt.publish_refused')).toMatchObject({
        vin: TESLA_FLEET_USERNAME,
        topic: `tesla/${stranger.vin}/v/BatteryLevel`,
        reason: "not a vehicle the token's user manages",
      });

      // SUBACK failure (0x80): mqtt.js rejects the subscription; the connection stays.
      const subscribed = await tesla.client.subscribeAsync(`tesla/${car.vin}/#`).then(
        () => 'granted',
        (error: Error) => error.message,
      );
      expect(subscribed).toMatch(/Subscribe error/);
      expect(tesla.client.connected).toBe(true);
      expect(audit().find((l) => l.event === 'mqtt.subscribe_refused')).toMatchObject({
        vin: TESLA_FLEET_USERNAME,
        reason: 'a fleet login may only publish',
      });

      const closed = new Promise<void>((resolve) => tesla.client.once('close', () => resolve()));
      await tesla.client.publishAsync(`tacho/v1/${car.vin}/telemetry`, '{}', { qos: 0 });
      await closed;
      expect(
        audit()
          .filter((l) => l.event === 'mqtt.publish_refused')
          .at(-1),
      ).toMatchObject({
        topic: `tacho/v1/${car.vin}/telemetry`,
        reason: 'topic not under the fleet topic base',
      });
    });

    it('takes a fleet at once: 20 cars × 60 fields in flight, one sample per car, every PUBACK', async () => {
      const cars = [car];
      for (let i = 1; i < 20; i++) cars.push(await createTestVehicle(app, { make: 'Tesla' }, owner));
      const tesla = await fleet();
      const record = (level: number) =>
        Object.fromEntries([
          ['BatteryLevel', level],
          ...Array.from({ length: 59 }, (_, i) => [`Field${i}`, i]),
        ]) as Record<string, number>;
      // Every message in flight at once: at a bound of 100 uncommitted messages the connection's reads
      // stalled past the group window, and records were split.
      await Promise.all(cars.map((c, i) => tesla.record(c.vin, record(i + 1))));
      for (const [i, c] of cars.entries()) {
        const { samples } = await storedFor(app, c.id);
        expect(samples.map((s) => s.metrics)).toEqual([{ battery_level_pct: i + 1 }]);
      }
    });

    it('publishes for vehicles shared with its user as operator, not as viewer', async () => {
      const asOperator = await createTestVehicle(app, { make: 'Tesla' });
      const asViewer = await createTestVehicle(app, { make: 'Tesla' });
      for (const [v, role] of [
        [asOperator, 'operator'],
        [asViewer, 'viewer'],
      ] as const) {
        const shared = await app.http.inject({
          method: 'POST',
          url: `/api/v1/vehicles/${v.id}/access`,
          headers: v.owner.headers,
          payload: { email: owner.email, role },
        });
        expect(shared.statusCode, shared.body).toBeLessThan(300);
      }
      const tesla = await fleet();
      await tesla.record(asOperator.vin, { BatteryLevel: 40 });
      await tesla.record(asViewer.vin, { BatteryLevel: 41 });
      expect((await storedFor(app, asOperator.id)).samples).toHaveLength(1);
      expect((await storedFor(app, asViewer.id)).samples).toEqual([]);
    });

    it('the telemetry scope grants nothing else, and a token without it cannot mint it', async () => {
      const asTelemetry = { authorization: `Bearer ${telemetryToken}` };
      const vehicles = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: asTelemetry,
      });
      expect(vehicles.statusCode).toBe(403);
      const ingest = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.vin}/telemetry`,
        headers: asTelemetry,
        payload: { ts: T0, metrics: { battery_level_pct: 50 } },
      });
      // It may not even see the vehicle.
      expect(ingest.statusCode).toBe(404);
      const minted = await app.http.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers: owner.headers,
        payload: { name: 'fleet', scopes: ['telemetry'] },
      });
      expect(minted.statusCode).toBe(403);
      expect(minted.json().error.code).toBe('insufficient_scope');
    });

    it('ends the connection when its token is revoked', async () => {
      const tesla = await fleet();
      const closed = new Promise<void>((resolve) => tesla.client.once('close', () => resolve()));
      const [info] = (await app.auth.tokens.listForUser(owner.id)).filter((t) =>
        t.scopes.includes('telemetry'),
      );
      await app.auth.tokens.revoke({ userId: owner.id, admin: false }, info!.id);
      await closed;
      expect(audit().find((l) => l.event === 'token.revoked')).toBeDefined();
    });

    it('records a drive and a charge published as fleet-telemetry would: GET /api/v1/sessions lists them', async () => {
      const tesla = await fleet();
      const minute = 60_000;
      let odometerMi = 1000;
      let lat = 48.1;
      // Parked, then a drive of 12 minutes at ~60 km/h north, then parked again.
      await tesla.record(car.vin, {
        Gear: 'ShiftStateP',
        VehicleSpeed: 0,
        Odometer: odometerMi,
        Location: { latitude: lat, longitude: 11.5 },
        BatteryLevel: 60,
      });
      for (let i = 1; i <= 12; i++) {
        clock.advance(minute);
        odometerMi += 0.62;
        lat += 0.009;
        await tesla.record(car.vin, {
          Gear: 'ShiftStateD',
          VehicleSpeed: 37.3,
          Odometer: odometerMi,
          Location: { latitude: lat, longitude: 11.5 },
          BatteryLevel: 60 - i * 0.25,
        });
      }
      clock.advance(minute);
      await tesla.record(car.vin, {
        Gear: 'ShiftStateP',
        VehicleSpeed: 0,
        Location: { latitude: lat, longitude: 11.5 },
      });
      // Then plugged in: charging for 40 minutes, the level rising, then complete.
      for (let i = 0; i <= 8; i++) {
        clock.advance(5 * minute);
        await tesla.record(car.vin, {
          DetailedChargeState: 'DetailedChargeStateCharging',
          ACChargingPower: 11,
          BatteryLevel: 57 + i * 2,
        });
      }
      clock.advance(5 * minute);
      await tesla.record(car.vin, {
        DetailedChargeState: 'DetailedChargeStateComplete',
        ACChargingPower: 0,
        BatteryLevel: 75,
      });

      const list = async () => {
        const res = await app.http.inject({ method: 'GET', url: '/api/v1/sessions', headers: owner.headers });
        expect(res.statusCode).toBe(200);
        return res.json().items as Array<{
          kind: string;
          vehicleId: string;
          startMs: number;
          endMs: number | null;
          stats: Record<string, unknown>;
        }>;
      };
      const sessions = await waitFor(
        list,
        (items) => items.filter((s) => s.endMs !== null).length >= 2,
        'a drive and a charge',
      );
      const drive = sessions.find((s) => s.kind === 'drive');
      const charge = sessions.find((s) => s.kind === 'charge');
      expect(drive).toMatchObject({ vehicleId: car.id, startMs: T0 + minute, endMs: T0 + 13 * minute });
      // From the first record in D to the last odometer before P (the P record carries none).
      expect(drive!.stats.distance_km).toBeCloseTo(11 * 0.62 * 1.609344, 1);
      expect(charge).toMatchObject({ vehicleId: car.id, startMs: T0 + 18 * minute, endMs: T0 + 63 * minute });
      expect(charge!.stats).toMatchObject({ soc_start_pct: 57, soc_end_pct: 75 });
    });
  });
}
