import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../db/index.js';
import { newId } from '../../lib/crypto.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { finishStats, newAccumulator } from '../sessions/stats.js';
import { hashPassword } from './passwords.js';
import { type Actor, actors, type Fixture, routeCases, routesTestedElsewhere } from './route-table.cases.js';

const PASSWORD = 'route table password';

/** The routes an app registers, read once before the suites are defined (one `it` per route). */
const registeredRoutes = await (async () => {
  const probe = await createTestApp('sqlite');
  try {
    return new Set(probe.auth.routeTable.map((r) => `${r.method} ${r.url}`));
  } finally {
    await probe.dispose();
  }
})();
const stale = Object.keys(routeCases).filter((k) => !registeredRoutes.has(k));
if (stale.length > 0)
  console.warn(`[route table] entries for routes that are not registered: ${stale.join(', ')}`);

for (const engine of engines) {
  describe(`route table: every /api/v1 route × every kind of caller [${engine}]`, () => {
    let app: TestApp;
    let passwordHash: string;
    let n = 0;
    const cookies = new Map<string, string>();

    beforeAll(async () => {
      // VinFast at a closed loopback port: no route of the table reaches the real one.
      app = await createTestApp(engine, {
        TACHO_VINFAST_AUTH_URL: 'http://127.0.0.1:9',
        TACHO_VINFAST_API_URL: 'http://127.0.0.1:9',
      });
      passwordHash = await hashPassword(PASSWORD);
    });
    afterAll(async () => {
      await app?.dispose();
    });

    async function user(role: Role) {
      const id = newId();
      const email = `${role}-${id.slice(0, 8)}@example.test`;
      const now = app.clock.now();
      await app.storage.db
        .insertInto('users')
        .values({
          id,
          email,
          name: role,
          password_hash: passwordHash,
          role,
          disabled_ms: null,
          tokens_valid_after_ms: 0,
          created_ms: now,
          updated_ms: now,
        })
        .execute();
      const login = await app.auth.logins.start(id, 'test', null);
      cookies.set(id, `tacho_access=${login.access.token}; tacho_refresh=${login.refreshToken}`);
      return { id, email, password: PASSWORD, loginId: login.loginId };
    }

    /** A fresh little world for each request, so one caller's DELETE does not change the next one's answer. */
    async function fixture(): Promise<Fixture> {
      n += 1;
      const [viewer, operator, admin, other, extra] = await Promise.all([
        user('viewer'),
        user('operator'),
        user('admin'),
        user('operator'),
        user('viewer'),
      ]);
      const as = (u: { id: string }, role: Role) => ({ kind: 'user' as const, userId: u.id, role });
      const vin = (k: number) => `FXTRE${String(n * 10 + k).padStart(12, '0')}`;
      const vehicle = await app.vehicles.create(as(operator, 'operator'), { vin: vin(1), name: 'V' });
      const otherVehicle = await app.vehicles.create(as(other, 'operator'), { vin: vin(2), name: 'W' });
      await app.vehicles.share(as(operator, 'operator'), vehicle.id, { email: viewer.email, role: 'viewer' });
      const vehicleToken = await app.vehicles.createToken(as(operator, 'operator'), vehicle.id);
      const operatorToken = await app.auth.tokens.create({
        userId: operator.id,
        name: 'script',
        scopes: ['read'],
      });
      const alias = await app.http.inject({
        method: 'POST',
        url: '/api/v1/aliases',
        headers: { cookie: cookies.get(admin.id)! },
        payload: { make: 'Tesla', deviceKey: `fixture_${n}`, canonicalKey: 'gear' },
      });
      const sessionId = newId();
      await app.storage.db
        .insertInto('sessions')
        .values({
          id: sessionId,
          vehicle_id: vehicle.id,
          kind: 'manual',
          name: null,
          start_ms: Date.UTC(2026, 0, 1),
          end_ms: Date.UTC(2026, 0, 1, 1),
          stats: JSON.stringify(finishStats(newAccumulator(Date.UTC(2026, 0, 1)), 'manual')),
          created_ms: app.clock.now(),
          updated_ms: app.clock.now(),
        })
        .execute();
      // An alert rule of the operator's on V, and an open alert it raised.
      const alertRuleId = newId();
      const alertId = newId();
      const now = app.clock.now();
      await app.storage.db
        .insertInto('alert_rules')
        .values({
          id: alertRuleId,
          owner_id: operator.id,
          vehicle_id: vehicle.id,
          name: 'Low',
          condition: JSON.stringify({ metric: 'battery_level_pct', op: '<', value: 20 }),
          event: null,
          cooldown_s: 0,
          channels: '[]',
          secret: 'fixture-secret',
          enabled: 1,
          created_ms: now,
          updated_ms: now,
        })
        .execute();
      await app.storage.db
        .insertInto('alerts')
        .values({
          id: alertId,
          rule_id: alertRuleId,
          rule_name: 'Low',
          vehicle_id: vehicle.id,
          state: 'open',
          fired_ms: now,
          message: 'Battery level 10 % < 20 %',
          value: '10',
          acknowledged_ms: null,
          acknowledged_by: null,
          resolved_ms: null,
          created_ms: now,
        })
        .execute();
      return {
        n,
        sessionId,
        alertRuleId,
        alertId,
        user: { viewer, operator, admin, other },
        extra,
        vehicle: { id: vehicle.id, vin: vehicle.vin! },
        otherVehicle: { id: otherVehicle.id, vin: otherVehicle.vin! },
        vehicleTokenId: vehicleToken.info.id,
        vehicleToken: vehicleToken.token,
        operatorTokenId: operatorToken.info.id,
        aliasId: alias.statusCode < 300 ? (alias.json() as { id: string }).id : 'no-alias',
      };
    }

    it('has an entry for every registered route', () => {
      const registered = app.auth.routeTable.map((r) => `${r.method} ${r.url}`);
      const missing = registered.filter((key) => !(key in routeCases) && !(key in routesTestedElsewhere));
      expect(missing, 'routes without an entry in route-table.cases.ts').toEqual([]);
    });

    // Entries are driven only for registered routes: features land in parallel, and an entry for a route
    // that does not exist (yet, or any more) is reported above the run instead.
    for (const [key, routeCase] of Object.entries(routeCases).filter(([k]) => registeredRoutes.has(k))) {
      it(`${key}: ${actors.map((a) => `${a} ${routeCase.expect[a]}`).join(', ')}`, async () => {
        const [method] = key.split(' ') as ['GET' | 'POST' | 'PATCH' | 'DELETE'];
        const got: Record<string, string | number> = {};
        for (const actor of actors) {
          const f = await fixture();
          const { url, payload } = routeCase.request(f, actor);
          const headers =
            actor === 'anonymous'
              ? {}
              : { cookie: cookies.get(f.user[actor as Exclude<Actor, 'anonymous'>].id)! };
          const res = await app.http.inject({
            method,
            url,
            headers,
            ...(payload !== undefined ? { payload: payload as object } : {}),
          });
          got[actor] =
            res.statusCode === routeCase.expect[actor]
              ? res.statusCode
              : `${res.statusCode} ${res.body.slice(0, 160)}`;
        }
        const f = await fixture();
        const { url, payload } = routeCase.request(f, 'anonymous');
        const res = await app.http.inject({
          method,
          url,
          headers: { authorization: `Bearer ${f.vehicleToken}` },
          ...(payload !== undefined ? { payload: payload as object } : {}),
        });
        const device = routeCase.device ?? 403;
        got.device =
          res.statusCode === device ? res.statusCode : `${res.statusCode} ${res.body.slice(0, 160)}`;
        expect(got).toEqual({ ...routeCase.expect, device });
      });
    }
  });
}
