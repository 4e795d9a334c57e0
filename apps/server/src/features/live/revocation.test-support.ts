import { expect } from 'vitest';
import type { App } from '../../app.js';
import type { TestUser } from '../auth/testing.js';
import { TestSocket } from './test-socket.js';

/** Revocation tests never rely on the periodic re-check unless they say so: it runs once an hour. */
export const NO_BACKSTOP_MS = 3_600_000;

/** Generous: a close is expected within a second, but a loaded machine must not fail the test. */
export const CLOSE_CAP_MS = 15_000;

/** A live socket on `app` (as ws://… base), authenticated with a fresh login's access token. */
export async function loginSocket(
  app: App,
  base: string,
  user: TestUser,
): Promise<{ socket: TestSocket; loginId: string; access: string }> {
  const login = await app.auth.logins.start(user.id, 'Test browser', null);
  const socket = await TestSocket.open(`${base}/api/v1/live`);
  socket.send({ type: 'auth', token: login.access.token });
  await socket.next('ready');
  return { socket, loginId: login.loginId, access: login.access.token };
}

/** A live socket authenticated with a new API token of the user (read scope). */
export async function tokenSocket(
  app: App,
  base: string,
  user: TestUser,
): Promise<{ socket: TestSocket; tokenId: string }> {
  const created = await app.auth.tokens.create({ userId: user.id, name: 'live', scopes: ['read'] });
  const socket = await TestSocket.open(`${base}/api/v1/live`);
  socket.send({ type: 'auth', token: created.token });
  await socket.next('ready');
  return { socket, tokenId: created.info.id };
}

/** Subscribes and waits for the snapshot. */
export async function follow(socket: TestSocket, vehicleId: string): Promise<void> {
  socket.send({ type: 'subscribe', vehicleIds: [vehicleId] });
  await socket.next('snapshot', (m) => m.vehicleId === vehicleId);
}

export async function addVehicle(app: App, owner: TestUser, vin: string): Promise<string> {
  const res = await app.http.inject({
    method: 'POST',
    url: '/api/v1/vehicles',
    headers: owner.headers,
    payload: { vin, name: vin.slice(-3) },
  });
  expect(res.statusCode).toBe(201);
  return res.json<{ id: string }>().id;
}

/** The revocations an admin, an owner or the user can make, through the REST API. */
export const revoke = {
  async role(app: App, admin: TestUser, userId: string, role: 'viewer' | 'operator'): Promise<void> {
    const res = await app.http.inject({
      method: 'PATCH',
      url: `/api/v1/users/${userId}`,
      headers: admin.headers,
      payload: { role },
    });
    expect(res.statusCode).toBe(200);
  },
  async disable(app: App, admin: TestUser, userId: string): Promise<void> {
    const res = await app.http.inject({
      method: 'PATCH',
      url: `/api/v1/users/${userId}`,
      headers: admin.headers,
      payload: { disabled: true },
    });
    expect(res.statusCode).toBe(200);
  },
  async password(app: App, user: TestUser): Promise<void> {
    const res = await app.http.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: user.headers,
      payload: { currentPassword: user.password, newPassword: `${user.password} changed` },
    });
    expect(res.statusCode).toBe(200);
  },
  async logout(app: App, access: string): Promise<void> {
    const res = await app.http.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      cookies: { tacho_access: access },
    });
    expect(res.statusCode).toBe(204);
  },
  async token(app: App, user: TestUser, tokenId: string): Promise<void> {
    const res = await app.http.inject({
      method: 'DELETE',
      url: `/api/v1/tokens/${tokenId}`,
      headers: user.headers,
    });
    expect(res.statusCode).toBe(204);
  },
  async unshare(app: App, owner: TestUser, vehicleId: string, userId: string): Promise<void> {
    const res = await app.http.inject({
      method: 'DELETE',
      url: `/api/v1/vehicles/${vehicleId}/access/${userId}`,
      headers: owner.headers,
    });
    expect(res.statusCode).toBe(204);
  },
};

export async function share(
  app: App,
  owner: TestUser,
  vehicleId: string,
  email: string,
  role: 'viewer' | 'operator',
): Promise<void> {
  const res = await app.http.inject({
    method: 'POST',
    url: `/api/v1/vehicles/${vehicleId}/access`,
    headers: owner.headers,
    payload: { email, role },
  });
  expect(res.statusCode).toBeLessThan(300);
}
