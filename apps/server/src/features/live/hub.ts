import type { LiveClientMessage, VehicleState } from '@tacho/protocol';
import { LiveClientMessage as LiveClientMessageSchema, LiveClose } from '@tacho/protocol';
import { Value } from 'typebox/value';
import type { WebSocket } from 'ws';
import { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Principal } from '../auth/principal.js';
import type { LiveBus } from './bus.js';
import { type FlowLimits, LiveConnection } from './connection.js';

/** Bounds what one socket can make the server track and check. */
const MAX_VEHICLES_PER_SOCKET = 1000;
/** A subscribe message for the most vehicles a socket may follow fits well within this. */
const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;

function byteLength(data: import('ws').RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

export interface HubDeps {
  bus: LiveBus;
  logger: Logger;
  now: () => number;
  limits: FlowLimits;
  /** Authenticates the token of an `auth` message (API token, or a login's access token). */
  authenticate(token: string): Promise<Principal | null>;
  /** Throws (NotFound) unless the principal may read the vehicle. */
  authorizeRead(principal: Principal, vehicleId: string): Promise<void>;
  snapshot(vehicleId: string): Promise<VehicleState>;
  /** How long a socket may stay unauthenticated. */
  authTimeoutMs: number;
}

/**
 * The live hub: one bus subscription per vehicle that has any subscriber on this instance, fanned out to
 * its sockets as one shared frame (serialized once by the publisher, encoded to bytes once here).
 */
export class LiveHub {
  private readonly connections = new Set<LiveConnection>();
  private readonly byVehicle = new Map<string, { sockets: Set<LiveConnection>; off: Promise<() => void> }>();

  constructor(private readonly deps: HubDeps) {}

  get size(): number {
    return this.connections.size;
  }

  /** Takes a new socket; `principal` is set when the upgrade request carried a valid cookie or header. */
  accept(socket: WebSocket, principal: Principal | null): LiveConnection {
    const conn = new LiveConnection(socket, this.deps.limits, this.deps.now);
    this.connections.add(conn);
    if (principal) this.ready(conn, principal);
    const authTimer = setTimeout(() => {
      if (!conn.principal) conn.close(LiveClose.unauthorized, 'authenticate within the time allowed');
    }, this.deps.authTimeoutMs);
    authTimer.unref();
    socket.on('message', (data, isBinary) => {
      if (isBinary) return conn.close(1003, 'text frames only');
      // The shared WebSocket server accepts MQTT-sized frames; a live client only sends small commands.
      if (byteLength(data) > MAX_CLIENT_MESSAGE_BYTES) return conn.close(1009, 'message too large');
      void this.onMessage(conn, data.toString()).catch((error) => {
        this.deps.logger.error({ err: error }, 'live message failed');
      });
    });
    socket.on('close', () => {
      clearTimeout(authTimer);
      conn.dispose();
      this.connections.delete(conn);
      for (const vehicleId of conn.vehicles.keys()) this.detach(conn, vehicleId);
    });
    socket.on('error', () => {});
    return conn;
  }

  private ready(conn: LiveConnection, principal: Principal): void {
    conn.principal = principal;
    conn.send({ type: 'ready', userId: principal.userId });
  }

  private async onMessage(conn: LiveConnection, text: string): Promise<void> {
    let message: LiveClientMessage;
    try {
      message = JSON.parse(text) as LiveClientMessage;
    } catch {
      return conn.send({ type: 'error', code: 'invalid', message: 'messages must be JSON' });
    }
    if (!Value.Check(LiveClientMessageSchema, message)) {
      return conn.send({ type: 'error', code: 'invalid', message: 'unknown or malformed message' });
    }
    if (message.type === 'ping')
      return conn.send({ type: 'pong', ...(message.id !== undefined ? { id: message.id } : {}) });
    if (message.type === 'auth') {
      if (conn.principal)
        return conn.send({ type: 'error', code: 'invalid', message: 'already authenticated' });
      const principal = await this.deps.authenticate(message.token).catch(() => null);
      if (principal?.kind !== 'user') return conn.close(LiveClose.unauthorized, 'invalid token');
      return this.ready(conn, principal);
    }
    const principal = conn.principal;
    if (!principal) return conn.close(LiveClose.unauthorized, 'authenticate first');
    if (message.type === 'unsubscribe') {
      for (const id of message.vehicleIds) this.detach(conn, id);
      return;
    }
    for (const vehicleId of new Set(message.vehicleIds)) await this.subscribe(conn, principal, vehicleId);
  }

  private async subscribe(conn: LiveConnection, principal: Principal, vehicleId: string): Promise<void> {
    try {
      await this.deps.authorizeRead(principal, vehicleId);
    } catch (error) {
      const code = error instanceof AppError ? error.code : 'internal';
      const message = error instanceof AppError ? error.message : 'could not subscribe';
      return conn.send({ type: 'error', code, message, vehicleId });
    }
    if (conn.closed) return;
    const existing = conn.vehicles.get(vehicleId);
    if (!existing && conn.vehicles.size >= MAX_VEHICLES_PER_SOCKET) {
      const message = `at most ${MAX_VEHICLES_PER_SOCKET} vehicles per socket`;
      return conn.send({ type: 'error', code: 'too_many_subscriptions', message, vehicleId });
    }
    // Hold updates until the snapshot is out, so the client never applies an update to no state.
    if (existing) existing.held ??= [];
    else conn.vehicles.set(vehicleId, { held: [] });
    try {
      await this.attach(conn, vehicleId);
    } catch (error) {
      this.deps.logger.warn({ err: error, vehicleId }, 'live subscription failed');
      this.detach(conn, vehicleId);
      const message = 'live updates are unavailable right now; try again';
      return conn.send({ type: 'error', code: 'unavailable', message, vehicleId });
    }
    try {
      const state = await this.deps.snapshot(vehicleId);
      conn.send({ type: 'snapshot', vehicleId, state });
    } finally {
      conn.release(vehicleId);
    }
  }

  private async attach(conn: LiveConnection, vehicleId: string): Promise<void> {
    let entry = this.byVehicle.get(vehicleId);
    if (!entry) {
      const sockets = new Set<LiveConnection>();
      const off = this.deps.bus.subscribe(vehicleId, (payload) => {
        const frame = Buffer.from(payload);
        for (const c of sockets) c.deliver(vehicleId, frame);
      });
      entry = { sockets, off };
      this.byVehicle.set(vehicleId, entry);
      // A failed bus subscription (Redis down) must not stay cached: the next subscribe tries again.
      off.catch(() => {
        if (this.byVehicle.get(vehicleId)?.off === off) this.byVehicle.delete(vehicleId);
      });
    }
    entry.sockets.add(conn);
    await entry.off;
  }

  private detach(conn: LiveConnection, vehicleId: string): void {
    conn.vehicles.delete(vehicleId);
    const entry = this.byVehicle.get(vehicleId);
    if (!entry?.sockets.delete(conn) || entry.sockets.size > 0) return;
    this.byVehicle.delete(vehicleId);
    void entry.off.then((off) => off()).catch(() => {});
  }

  /**
   * Access to a vehicle (or all of a user's) ended: that user's sockets stop getting updates at once, and
   * those that were subscribed to a vehicle they may no longer read are closed with a reason.
   */
  async revokeAccess(userId: string, vehicleId?: string): Promise<void> {
    const affected = [...this.connections].filter(
      (c) =>
        c.principal?.userId === userId &&
        (vehicleId === undefined ? c.vehicles.size > 0 : c.vehicles.has(vehicleId)),
    );
    for (const conn of affected) conn.pause();
    await Promise.all(
      affected.map(async (conn) => {
        const ids = vehicleId === undefined ? [...conn.vehicles.keys()] : [vehicleId];
        const stillAllowed = await Promise.all(
          ids.map((id) =>
            this.deps.authorizeRead(conn.principal!, id).then(
              () => true,
              () => false,
            ),
          ),
        );
        if (stillAllowed.every(Boolean)) conn.resume();
        else conn.close(LiveClose.accessRevoked, 'access to a subscribed vehicle was revoked');
      }),
    );
  }

  /** A login ended (or all of a user's): its sockets close at once. */
  endLogin(userId: string, loginId: string | undefined, reason: string): void {
    for (const conn of this.connections) {
      const p = conn.principal;
      if (!p || p.userId !== userId) continue;
      if (loginId !== undefined && p.kind === 'user' && p.loginId !== loginId) continue;
      conn.close(LiveClose.loginEnded, `login ended: ${reason}`.slice(0, 120));
    }
  }

  /** Closes every socket (server shutdown). */
  closeAll(): void {
    for (const conn of this.connections) conn.close(1001, 'server shutting down');
  }
}
