import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { createVehicleWithToken, testVin } from './test-fixtures.js';

const MAX_BYTES = 4096;

/** A seeded stream of hostile payloads: each must be refused without harming the valid ones around it. */
function fuzzedPayloads(seed: number, count: number): Array<string | Buffer> {
  let state = seed;
  const rnd = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const now = Date.now();
  const makers: Array<() => string | Buffer> = [
    () => randomBytes(1 + Math.floor(rnd() * 200)),
    () => JSON.stringify({ ts: now, metrics: { speed_kmh: 10 } }).slice(0, Math.floor(rnd() * 30)),
    () => JSON.stringify({ ts: now, raw: { blob: 'x'.repeat(MAX_BYTES) } }),
    () => '['.repeat(5000) + ']'.repeat(5000),
    () => JSON.stringify({ ts: 'not a time', metrics: { speed_kmh: 1 } }),
    () => JSON.stringify({ ts: now, metrics: { speed_kmh: Number.MAX_VALUE } }),
    () => JSON.stringify({ ts: now, metrics: { speed_kmh: '12' } }),
    () => JSON.stringify({ ts: now, metrics: { battery_level_pct: -1 } }),
    () => JSON.stringify({ ts: now, metrics: { charging_state: 'flying' } }),
    () => JSON.stringify({ ts: now + 3_600_000, metrics: { speed_kmh: 1 } }),
    () => JSON.stringify({ ts: 1_700_000_000, metrics: { speed_kmh: 1 } }),
    () => JSON.stringify({ ts: now, position: { lat: 91, lon: 0 } }),
    () => JSON.stringify({ ts: now, position: { lat: '1', lon: 2 } }),
    () => '{"ts": 1, "__proto__": {"polluted": true}, "metrics": {"constructor": 1}}',
    () => JSON.stringify({ ts: now, raw: { 'k\u0000ey': 'v\u0000' } }),
    () => JSON.stringify({ ts: now, seq: -5, metrics: { speed_kmh: 1 } }),
    () => JSON.stringify({ ts: now, seq: 1.5, metrics: { speed_kmh: 1 } }),
    () => JSON.stringify({ ts: now, metrics: [] }),
    () => JSON.stringify(null),
    () => JSON.stringify(42),
    () => JSON.stringify([]),
    () => JSON.stringify(Array.from({ length: 1001 }, () => ({ ts: now, metrics: { speed_kmh: 1 } }))),
    () => '\uFEFF{"ts": 1}',
    () => JSON.stringify({ ts: now }),
  ];
  return Array.from({ length: count }, (_, i) => makers[i % makers.length]!());
}

for (const engine of engines) {
  describe(`fuzzed and oversized payloads mixed with valid ones [${engine}]`, () => {
    let app: TestApp;
    let car: { vehicleId: string; vin: string; token: string };

    beforeEach(async () => {
      app = await createTestApp(engine, { TACHO_MAX_PAYLOAD_BYTES: String(MAX_BYTES) }, { mqttPort: 0 });
      const owner = await createTestUser(app, 'operator');
      car = await createVehicleWithToken(app, owner, testVin(31));
    });
    afterEach(async () => {
      await app.dispose();
    });

    const counts = async () => ({
      samples: Number(
        (
          await app.storage.db
            .selectFrom('samples')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
      deadLetters: Number(
        (
          await app.storage.db
            .selectFrom('dead_letters')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    });

    it('over MQTT: every valid one stored, every invalid one dead-lettered and acknowledged', async () => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.broker!.port}`, {
        username: car.vin,
        password: car.token,
        reconnectPeriod: 0,
      });
      try {
        const bad = fuzzedPayloads(7, 96);
        const topic = `tacho/v1/${car.vin}/telemetry`;
        const t0 = Date.now() - 60_000;
        const sends: Array<Promise<unknown>> = [];
        bad.forEach((payload, i) => {
          sends.push(
            client.publishAsync(topic, JSON.stringify({ ts: t0 + i, metrics: { speed_kmh: i } }), { qos: 1 }),
          );
          sends.push(client.publishAsync(topic, payload, { qos: 1 }));
        });
        // Every publish is acknowledged: refused ones too, so devices do not send them forever.
        await Promise.all(sends);
        expect(await counts()).toEqual({ samples: bad.length, deadLetters: bad.length });
      } finally {
        await client.endAsync(true);
      }
      const health = await app.http.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(200);
      const metrics = await app.http.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toMatch(/tacho_ingest_dead_letters_total\{reason="too_large"\} \d+/);
    });

    it('over HTTP: valid ones stored, invalid ones answered 4xx and dead-lettered, never a 500', async () => {
      const bad = fuzzedPayloads(11, 48);
      const t0 = Date.now() - 60_000;
      const statuses: number[] = [];
      for (const [i, payload] of bad.entries()) {
        const ok = await app.http.inject({
          method: 'POST',
          url: `/api/v1/vehicles/${car.vin}/telemetry`,
          headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ ts: t0 + i, metrics: { speed_kmh: 1 } }),
        });
        expect(ok.statusCode).toBe(200);
        const res = await app.http.inject({
          method: 'POST',
          url: `/api/v1/vehicles/${car.vin}/telemetry`,
          headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
          payload,
        });
        statuses.push(res.statusCode);
      }
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(statuses.filter((s) => s === 200)).toEqual([]);
      const c = await counts();
      expect(c.samples).toBe(bad.length);
      // Everything is kept, bodies over the limit too (their beginning; issue 24.15).
      expect(statuses.filter((s) => s === 413)).not.toEqual([]);
      expect(c.deadLetters).toBe(bad.length);
    });
  });
}
