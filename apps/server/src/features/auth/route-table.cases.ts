/**
 * The route table: for every route under /api/v1, the request to make and the status each kind of
 * caller must get. A route registered without an entry here fails route-table.test.ts, so every new
 * route's access rules are written down and tested.
 *
 * The callers, each through a browser login (cookies):
 * - anonymous: no credentials;
 * - viewer: a viewer the operator's vehicle is shared with (read-only);
 * - operator: owns vehicle V;
 * - admin: sees and manages everything;
 * - other: an operator of another household, owning vehicle W; must not even learn that V exists.
 * And, through `Authorization: Bearer`, V's device token, which may only publish V's telemetry.
 */
export type Actor = 'anonymous' | 'viewer' | 'operator' | 'admin' | 'other';
export const actors: readonly Actor[] = ['anonymous', 'viewer', 'operator', 'admin', 'other'];

export interface Fixture {
  /** Unique per request, for VINs and emails that must not collide with earlier runs in the same app. */
  n: number;
  user: Record<Exclude<Actor, 'anonymous'>, { id: string; email: string; password: string; loginId: string }>;
  /** A viewer nobody shared anything with: the target of user admin and sharing requests. */
  extra: { id: string; email: string };
  /** V: owned by the operator, shared read-only with the viewer. */
  vehicle: { id: string; vin: string };
  /** W: owned by the other household. */
  otherVehicle: { id: string; vin: string };
  vehicleTokenId: string;
  /** The secret of that device token of V. */
  vehicleToken: string;
  /** An API token of the operator's (for revocation). */
  operatorTokenId: string;
  aliasId: string;
  /** A finished manual recording of V. */
  sessionId: string;
  /** The operator's alert rule on V, and an open alert it raised. */
  alertRuleId: string;
  alertId: string;
}

export interface RouteCase {
  request(f: Fixture, actor: Actor): { url: string; payload?: unknown };
  expect: Record<Actor, number>;
  /** The status for V's device token (Bearer); 403 when left out: a device may only publish. */
  device?: number;
}

/** Status by caller: anonymous, viewer, operator, admin, other. */
function s(
  anonymous: number,
  viewer: number,
  operator: number,
  admin: number,
  other: number,
): Record<Actor, number> {
  return { anonymous, viewer, operator, admin, other };
}

const vin = (n: number) => `TSTVN${String(n).padStart(12, '0')}`;
const password = (f: Fixture, actor: Actor) =>
  actor === 'anonymous' ? 'no password at all' : f.user[actor].password;

export const routeCases: Record<string, RouteCase> = {
  // Auth: public entry points answer everyone alike.
  'POST /api/v1/auth/login': {
    request: (f) => ({
      url: '/api/v1/auth/login',
      payload: { email: f.user.viewer.email, password: f.user.viewer.password },
    }),
    expect: s(200, 200, 200, 200, 200),
    // public: a bearer token changes nothing
    device: 200,
  },
  'POST /api/v1/auth/refresh': {
    request: () => ({ url: '/api/v1/auth/refresh' }),
    expect: s(401, 200, 200, 200, 200),
    device: 401,
  },
  'POST /api/v1/auth/logout': {
    request: () => ({ url: '/api/v1/auth/logout' }),
    expect: s(204, 204, 204, 204, 204),
    device: 204,
  },
  'GET /api/v1/auth/me': { request: () => ({ url: '/api/v1/auth/me' }), expect: s(401, 200, 200, 200, 200) },
  'GET /api/v1/auth/me/preferences': {
    request: () => ({ url: '/api/v1/auth/me/preferences' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'PUT /api/v1/auth/me/preferences': {
    request: () => ({
      url: '/api/v1/auth/me/preferences',
      payload: { distance: 'mi', temperature: 'f', pressure: 'psi' },
    }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/auth/logins': {
    request: () => ({ url: '/api/v1/auth/logins' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'DELETE /api/v1/auth/logins': {
    request: () => ({ url: '/api/v1/auth/logins' }),
    expect: s(401, 204, 204, 204, 204),
  },
  // Only one's own login: someone else's is "no such login".
  'DELETE /api/v1/auth/logins/:id': {
    request: (f) => ({ url: `/api/v1/auth/logins/${f.user.operator.loginId}` }),
    expect: s(401, 404, 204, 404, 404),
  },
  'POST /api/v1/auth/password': {
    request: (f, actor) => ({
      url: '/api/v1/auth/password',
      payload: { currentPassword: password(f, actor), newPassword: `new password ${f.n}` },
    }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/auth/setup': {
    request: () => ({ url: '/api/v1/auth/setup' }),
    expect: s(200, 200, 200, 200, 200),
    device: 200,
  },
  'GET /api/v1/auth/setup/:token': {
    request: () => ({ url: '/api/v1/auth/setup/not-a-token' }),
    expect: s(200, 200, 200, 200, 200),
    device: 200,
  },
  'POST /api/v1/auth/setup': {
    request: (f) => ({
      url: '/api/v1/auth/setup',
      payload: {
        token: 'not-a-token',
        email: `setup${f.n}@example.test`,
        name: 'x',
        password: 'a long password',
      },
    }),
    expect: s(400, 400, 400, 400, 400),
    device: 400,
  },
  'POST /api/v1/auth/signup': {
    request: (f) => ({
      url: '/api/v1/auth/signup',
      payload: { email: `signup${f.n}@example.test`, name: 'x', password: 'a long password' },
    }),
    expect: s(403, 403, 403, 403, 403),
  },

  // Users: admin only.
  'GET /api/v1/users': { request: () => ({ url: '/api/v1/users' }), expect: s(401, 403, 403, 200, 403) },
  'POST /api/v1/users': {
    request: (f) => ({
      url: '/api/v1/users',
      payload: { email: `new${f.n}@example.test`, name: 'New', password: 'a long password', role: 'viewer' },
    }),
    expect: s(401, 403, 403, 201, 403),
  },
  'PATCH /api/v1/users/:id': {
    request: (f) => ({ url: `/api/v1/users/${f.extra.id}`, payload: { role: 'operator' } }),
    expect: s(401, 403, 403, 200, 403),
  },
  'DELETE /api/v1/users/:id': {
    request: (f) => ({ url: `/api/v1/users/${f.extra.id}` }),
    expect: s(401, 403, 403, 204, 403),
  },

  // A phone app's own vehicle (issue 20.3): who may add vehicles, for themselves.
  'POST /api/v1/me/vehicles': {
    request: (f) => ({ url: '/api/v1/me/vehicles', payload: { kind: 'phone', name: `Phone ${f.n}` } }),
    expect: s(401, 403, 201, 201, 201),
  },
  // Provider identities (issue 20.2): any user's for admins; one's own in Settings.
  'GET /api/v1/users/:id/identities': {
    request: (f) => ({ url: `/api/v1/users/${f.extra.id}/identities` }),
    expect: s(401, 403, 403, 200, 403),
  },
  'POST /api/v1/users/:id/identities': {
    request: (f) => ({
      url: `/api/v1/users/${f.extra.id}/identities`,
      payload: { issuer: 'https://id.example.test', subject: `sub-${f.n}` },
    }),
    expect: s(401, 403, 403, 201, 403),
  },
  'DELETE /api/v1/users/:id/identities/:identityId': {
    // An unknown identity: 404 for the admin, the same refusals as its siblings for everyone else.
    request: (f) => ({ url: `/api/v1/users/${f.extra.id}/identities/no-such-identity` }),
    expect: s(401, 403, 403, 404, 403),
  },
  'GET /api/v1/auth/identities': {
    request: () => ({ url: '/api/v1/auth/identities' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'DELETE /api/v1/auth/identities/:id': {
    request: () => ({ url: '/api/v1/auth/identities/no-such-identity' }),
    expect: s(401, 404, 404, 404, 404),
  },
  // Public: the login page reads it; without a configured provider the sign-in routes answer 404.
  'GET /api/v1/auth/providers': {
    request: () => ({ url: '/api/v1/auth/providers' }),
    expect: s(200, 200, 200, 200, 200),
    device: 200,
  },
  'GET /api/v1/auth/oidc/start': {
    request: () => ({ url: '/api/v1/auth/oidc/start' }),
    expect: s(404, 404, 404, 404, 404),
    device: 404,
  },
  'GET /api/v1/auth/oidc/callback': {
    request: () => ({ url: '/api/v1/auth/oidc/callback?code=x&state=y' }),
    expect: s(404, 404, 404, 404, 404),
    device: 404,
  },

  // `tacho login` (issue 20.4): the page's reads and decisions need a signed-in browser; an unknown
  // request is 404 to each of them. The polling fallback is public (the resume secret is its credential).
  'GET /api/v1/cli-login/:connectionId': {
    request: () => ({ url: '/api/v1/cli-login/no-such-connection' }),
    expect: s(401, 404, 404, 404, 404),
  },
  'POST /api/v1/cli-login/:connectionId/confirm': {
    request: () => ({
      url: '/api/v1/cli-login/no-such-connection/confirm',
      payload: { userCode: 'BCDFGHJK' },
    }),
    expect: s(401, 404, 404, 404, 404),
  },
  'POST /api/v1/cli-login/:connectionId/deny': {
    request: () => ({ url: '/api/v1/cli-login/no-such-connection/deny' }),
    expect: s(401, 404, 404, 404, 404),
  },
  'POST /api/v1/cli-login/token': {
    request: () => ({ url: '/api/v1/cli-login/token', payload: { connectionId: 'x', resumeSecret: 'y' } }),
    expect: s(400, 400, 400, 400, 400),
    device: 400,
  },
  // A browser login carries no API token to revoke: 400; `tacho logout` sends its bearer token.
  'DELETE /api/v1/tokens/current': {
    request: () => ({ url: '/api/v1/tokens/current' }),
    expect: s(401, 400, 400, 400, 400),
  },

  // API tokens: one's own.
  'POST /api/v1/tokens': {
    request: () => ({ url: '/api/v1/tokens', payload: { name: 'script', scopes: ['read'] } }),
    expect: s(401, 201, 201, 201, 201),
  },
  'GET /api/v1/tokens': { request: () => ({ url: '/api/v1/tokens' }), expect: s(401, 200, 200, 200, 200) },
  'DELETE /api/v1/tokens/:id': {
    request: (f) => ({ url: `/api/v1/tokens/${f.operatorTokenId}` }),
    expect: s(401, 404, 204, 204, 404),
  },

  // Vehicles: V is the operator's, shared read-only with the viewer; the other household gets 404.
  'GET /api/v1/vehicles': {
    request: () => ({ url: '/api/v1/vehicles' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'POST /api/v1/vehicles': {
    request: (f) => ({ url: '/api/v1/vehicles', payload: { vin: vin(f.n), name: 'New car' } }),
    expect: s(401, 403, 201, 201, 201),
  },
  'GET /api/v1/vehicles/:id': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'PATCH /api/v1/vehicles/:id': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}`, payload: { name: 'Renamed' } }),
    expect: s(401, 403, 200, 200, 404),
  },
  'DELETE /api/v1/vehicles/:id': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}` }),
    expect: s(401, 403, 204, 204, 404),
  },
  'GET /api/v1/vehicles/:id/access': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/access` }),
    expect: s(401, 403, 200, 200, 404),
  },
  'POST /api/v1/vehicles/:id/access': {
    request: (f) => ({
      url: `/api/v1/vehicles/${f.vehicle.id}/access`,
      payload: { email: f.extra.email, role: 'viewer' },
    }),
    expect: s(401, 403, 200, 200, 404),
  },
  'DELETE /api/v1/vehicles/:id/access': {
    request: (f) => ({
      url: `/api/v1/vehicles/${f.vehicle.id}/access`,
      payload: { email: f.user.viewer.email },
    }),
    expect: s(401, 403, 204, 204, 404),
  },
  'DELETE /api/v1/vehicles/:id/access/:userId': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/access/${f.user.viewer.id}` }),
    expect: s(401, 403, 204, 204, 404),
  },
  'POST /api/v1/vehicles/:id/tokens': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/tokens`, payload: { name: 'dongle' } }),
    expect: s(401, 403, 201, 201, 404),
  },
  'GET /api/v1/vehicles/:id/tokens': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/tokens` }),
    expect: s(401, 403, 200, 200, 404),
  },
  'DELETE /api/v1/vehicles/:id/tokens/:tokenId': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/tokens/${f.vehicleTokenId}` }),
    expect: s(401, 403, 204, 204, 404),
  },

  // Readings (issue 6): whoever may see the vehicle may read it.
  'GET /api/v1/vehicles/:id/state': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/state` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'GET /api/v1/vehicles/:id/samples': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/samples?from=0&to=1000` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'GET /api/v1/vehicles/:id/raw': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/raw` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'GET /api/v1/vehicles/:id/track': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/track?from=0&to=1000` }),
    expect: s(401, 200, 200, 200, 404),
  },

  // Ingest (issue 4): publishing needs more than read access.
  'POST /api/v1/vehicles/:vin/telemetry': {
    request: (f) => ({
      url: `/api/v1/vehicles/${f.vehicle.vin}/telemetry`,
      payload: { ts: Date.UTC(2026, 0, 1) + f.n, metrics: { gear: 'P' } },
    }),
    expect: s(401, 403, 200, 200, 404),
    // the one thing a device token is for
    device: 200,
  },
  // Sessions (issue 17): readable with the vehicle, changed by who manages it.
  'GET /api/v1/vehicles/:id/sessions': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/sessions` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'POST /api/v1/vehicles/:id/sessions': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/sessions`, payload: { kind: 'manual' } }),
    expect: s(401, 403, 201, 201, 404),
  },
  'GET /api/v1/vehicles/:id/session-settings': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/session-settings` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'PUT /api/v1/vehicles/:id/session-settings': {
    request: (f) => ({
      url: `/api/v1/vehicles/${f.vehicle.id}/session-settings`,
      payload: { minDriveKm: 0.5 },
    }),
    expect: s(401, 403, 200, 200, 404),
  },
  'GET /api/v1/sessions': {
    request: () => ({ url: '/api/v1/sessions' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/sessions/:id': {
    request: (f) => ({ url: `/api/v1/sessions/${f.sessionId}` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'GET /api/v1/sessions/:id/track': {
    request: (f) => ({ url: `/api/v1/sessions/${f.sessionId}/track` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'GET /api/v1/sessions/:id/samples': {
    request: (f) => ({ url: `/api/v1/sessions/${f.sessionId}/samples` }),
    expect: s(401, 200, 200, 200, 404),
  },
  // The fixture's recording is finished: who may stop it is told so (409).
  'POST /api/v1/sessions/:id/stop': {
    request: (f) => ({ url: `/api/v1/sessions/${f.sessionId}/stop` }),
    expect: s(401, 403, 409, 409, 404),
  },
  'DELETE /api/v1/sessions/:id': {
    request: (f) => ({ url: `/api/v1/sessions/${f.sessionId}` }),
    expect: s(401, 403, 204, 204, 404),
  },
  // Alerts (issue 18): rules and alerts are read with the vehicle; rules are changed by their owner (or an
  // admin); a viewer never writes; the other household does not learn they exist.
  'POST /api/v1/alert-rules': {
    request: (f) => ({
      url: '/api/v1/alert-rules',
      payload: {
        name: 'Cold',
        vehicleId: f.vehicle.id,
        condition: { metric: 'outside_temp_c', op: '<', value: 0 },
        channels: [{ type: 'inapp' }],
      },
    }),
    expect: s(401, 403, 201, 201, 404),
  },
  'GET /api/v1/alert-rules': {
    request: () => ({ url: '/api/v1/alert-rules' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/alert-rules/:id': {
    request: (f) => ({ url: `/api/v1/alert-rules/${f.alertRuleId}` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'PATCH /api/v1/alert-rules/:id': {
    request: (f) => ({ url: `/api/v1/alert-rules/${f.alertRuleId}`, payload: { cooldownS: 60 } }),
    expect: s(401, 403, 200, 200, 404),
  },
  'DELETE /api/v1/alert-rules/:id': {
    request: (f) => ({ url: `/api/v1/alert-rules/${f.alertRuleId}` }),
    expect: s(401, 403, 204, 204, 404),
  },
  'POST /api/v1/alert-rules/:id/test': {
    request: (f) => ({ url: `/api/v1/alert-rules/${f.alertRuleId}/test` }),
    expect: s(401, 403, 200, 200, 404),
  },
  'GET /api/v1/alerts': {
    request: () => ({ url: '/api/v1/alerts' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'POST /api/v1/alerts/:id/acknowledge': {
    request: (f) => ({ url: `/api/v1/alerts/${f.alertId}/acknowledge` }),
    expect: s(401, 403, 200, 200, 404),
  },
  'GET /api/v1/alerts/:id/deliveries': {
    request: (f) => ({ url: `/api/v1/alerts/${f.alertId}/deliveries` }),
    expect: s(401, 200, 200, 200, 404),
  },
  // Export and import (issue 19): who may read exports, who manages imports.
  'GET /api/v1/vehicles/:id/export': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/export?format=csv` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'GET /api/v1/sessions/:id/export': {
    request: (f) => ({ url: `/api/v1/sessions/${f.sessionId}/export?format=gpx` }),
    expect: s(401, 200, 200, 200, 404),
  },
  'POST /api/v1/vehicles/:id/import': {
    request: (f) => ({
      url: `/api/v1/vehicles/${f.vehicle.id}/import?format=geojson`,
      payload: {
        type: 'FeatureCollection',
        features: [
          {
            type: 'Feature',
            properties: { coordTimes: ['2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z'] },
            geometry: {
              type: 'LineString',
              coordinates: [
                [11.5, 48.1],
                [11.51, 48.1],
              ],
            },
          },
        ],
      },
    }),
    expect: s(401, 403, 200, 200, 404),
  },
  'GET /api/v1/admin/processing': {
    request: () => ({ url: '/api/v1/admin/processing' }),
    expect: s(401, 403, 403, 200, 403),
  },

  'GET /api/v1/admin/dead-letters': {
    request: () => ({ url: '/api/v1/admin/dead-letters' }),
    expect: s(401, 403, 403, 200, 403),
  },

  // Other source formats (issue 5): a person's cookie may publish where they may publish.
  'POST /api/v1/ingest/vinfast/:vin': {
    request: (f) => ({
      url: `/api/v1/ingest/vinfast/${f.vehicle.vin}`,
      payload: [{ deviceKey: '34183_00001_00009', value: 80, ts: Date.UTC(2026, 0, 1) + f.n }],
    }),
    expect: s(401, 403, 200, 200, 404),
    device: 200,
  },
  'POST /api/v1/ingest/owntracks': {
    request: (f) => ({
      url: `/api/v1/ingest/owntracks?u=u${f.n}&d=phone`,
      payload: { _type: 'location', lat: 52.5, lon: 13.4, tst: 1_767_225_600 + f.n },
    }),
    expect: s(401, 404, 404, 404, 404),
    // publishes for the token's vehicle
    device: 200,
  },
  'GET /api/v1/ingest/osmand': {
    request: (f) => ({
      url: `/api/v1/ingest/osmand?id=dev${f.n}&lat=52.5&lon=13.4&timestamp=${1_767_225_600 + f.n}`,
    }),
    expect: s(401, 404, 404, 404, 404),
    device: 200,
  },
  'POST /api/v1/ingest/osmand': {
    request: (f) => ({
      url: `/api/v1/ingest/osmand?id=dev${f.n}&lat=52.5&lon=13.4&timestamp=${1_767_225_600 + f.n}`,
    }),
    expect: s(401, 404, 404, 404, 404),
    device: 200,
  },
  'POST /api/v1/ingest/overland': {
    request: (f) => ({
      url: `/api/v1/ingest/overland?vehicleId=${f.vehicle.id}`,
      payload: { locations: [] },
    }),
    expect: s(401, 403, 200, 200, 404),
    device: 200,
  },
  'GET /api/v1/vehicles/:id/devices': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/devices` }),
    expect: s(401, 403, 200, 200, 404),
  },
  'POST /api/v1/vehicles/:id/devices': {
    request: (f) => ({
      url: `/api/v1/vehicles/${f.vehicle.id}/devices`,
      payload: { kind: 'osmand', deviceId: `k3Qz8-Wm2Xr-${f.n}` },
    }),
    expect: s(401, 403, 201, 201, 404),
  },
  'DELETE /api/v1/vehicles/:id/devices/:kind/:deviceId': {
    request: (f) => ({ url: `/api/v1/vehicles/${f.vehicle.id}/devices/osmand/no-such-device` }),
    expect: s(401, 403, 404, 404, 404),
  },
  'GET /api/v1/diagnostics/pids': {
    request: () => ({ url: '/api/v1/diagnostics/pids' }),
    // Reference data (PID definitions) for people and their API tokens; a device token only publishes.
    expect: s(401, 200, 200, 200, 200),
  },

  // Alias registry (issue 5): any user reads and proposes; only admins change or delete.
  'GET /api/v1/aliases': {
    request: () => ({ url: '/api/v1/aliases?make=Tesla' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/aliases/registry': {
    request: () => ({ url: '/api/v1/aliases/registry?make=VinFast' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/aliases/seen': {
    request: () => ({ url: '/api/v1/aliases/seen' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'POST /api/v1/aliases': {
    request: (f) => ({
      url: '/api/v1/aliases',
      payload: { make: 'Tesla', deviceKey: `key_${f.n}`, canonicalKey: 'gear' },
    }),
    expect: s(401, 201, 201, 201, 201),
  },
  'PATCH /api/v1/aliases/:id': {
    request: (f) => ({ url: `/api/v1/aliases/${f.aliasId}`, payload: { unit: 'x' } }),
    expect: s(401, 403, 403, 200, 403),
  },
  'DELETE /api/v1/aliases/:id': {
    request: (f) => ({ url: `/api/v1/aliases/${f.aliasId}` }),
    expect: s(401, 403, 403, 204, 403),
  },

  // VinFast connector (issue 22): operators and admins connect accounts (viewers may not); an account is
  // its owner's (an admin sees and disconnects it), anyone else gets 404. The table's app points VinFast at
  // a closed loopback port, so a caller who may sign in gets 503 (VinFast unreachable); the owner's own
  // paths run against the fake in features/connectors/vinfast.test.ts.
  'POST /api/v1/connectors/vinfast/accounts': {
    request: (f) => ({
      url: '/api/v1/connectors/vinfast/accounts',
      payload: { email: `owner-${f.n}@example.test`, password: 'not a real one', region: 'vn' },
    }),
    expect: s(401, 403, 503, 503, 503),
  },
  'GET /api/v1/connectors/vinfast/accounts': {
    request: () => ({ url: '/api/v1/connectors/vinfast/accounts' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/connectors/vinfast/accounts/:id/vehicles': {
    request: () => ({ url: '/api/v1/connectors/vinfast/accounts/no-such-account/vehicles' }),
    expect: s(401, 404, 404, 404, 404),
  },
  'POST /api/v1/connectors/vinfast/accounts/:id/vehicles': {
    request: (f) => ({
      url: '/api/v1/connectors/vinfast/accounts/no-such-account/vehicles',
      payload: { vin: vin(f.n) },
    }),
    expect: s(401, 403, 404, 404, 404),
  },
  'DELETE /api/v1/connectors/vinfast/accounts/:id': {
    request: () => ({ url: '/api/v1/connectors/vinfast/accounts/no-such-account' }),
    expect: s(401, 404, 404, 404, 404),
  },

  // Tesla connector (issue 21): operators and admins connect (viewers may not); an account is its
  // owner's (an admin sees and disconnects it), anyone else gets 404. The table's app has no Tesla
  // application configured, so starting a sign-in is 404 tesla_not_configured for whoever may start one;
  // the callback always sends the browser back to the dashboard. The owner's paths run against the fake
  // Tesla in features/connectors/tesla.test.ts.
  'GET /api/v1/connectors/tesla/start': {
    request: () => ({ url: '/api/v1/connectors/tesla/start' }),
    expect: s(401, 403, 404, 404, 404),
  },
  'GET /api/v1/connectors/tesla/callback': {
    request: () => ({ url: '/api/v1/connectors/tesla/callback?code=x&state=y' }),
    expect: s(302, 302, 302, 302, 302),
    device: 302,
  },
  // A sign-in that came back signed out, finished once logged in: an unknown state is `expired` (200).
  'POST /api/v1/connectors/tesla/finish': {
    request: () => ({
      url: '/api/v1/connectors/tesla/finish',
      payload: { state: 'no-such-state', code: 'x' },
    }),
    expect: s(401, 403, 200, 200, 200),
  },
  'GET /api/v1/connectors/tesla/accounts': {
    request: () => ({ url: '/api/v1/connectors/tesla/accounts' }),
    expect: s(401, 200, 200, 200, 200),
  },
  'GET /api/v1/connectors/tesla/accounts/:id/vehicles': {
    request: () => ({ url: '/api/v1/connectors/tesla/accounts/no-such-account/vehicles' }),
    expect: s(401, 404, 404, 404, 404),
  },
  'POST /api/v1/connectors/tesla/accounts/:id/vehicles': {
    request: (f) => ({
      url: '/api/v1/connectors/tesla/accounts/no-such-account/vehicles',
      payload: { vin: vin(f.n) },
    }),
    expect: s(401, 403, 404, 404, 404),
  },
  'DELETE /api/v1/connectors/tesla/accounts/:id': {
    request: () => ({ url: '/api/v1/connectors/tesla/accounts/no-such-account' }),
    expect: s(401, 404, 404, 404, 404),
  },
};

/** Routes the table does not drive through `inject`, with the reason and where they are tested instead. */
export const routesTestedElsewhere: Record<string, string> = {
  'GET /api/v1/live': 'a WebSocket: its authentication and Origin check are tested in features/live',
  'GET /api/v1/cli-login':
    'a WebSocket anyone may open (it only starts an attempt): tested in features/cli-login',
};
