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
  /**
   * The principal as it is now, by the login or token that authenticated the socket: its current role,
   * or null when that login or token no longer counts.
   */
  recheck(principal: Principal): Promise<Principal | null>;
  /** Of these vehicles, the ones the principal may read now. */
  readable(principal: Principal, vehicleIds: readonly string[]): Promise<ReadonlySet<string>>;
  /** How often every socket is re-checked, in case the event of a revocation was lost. */
  recheckMs: number;
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
  private readonly recheckTimer: NodeJS.Timeout;
  /** A round of re-checks is running (a slow round is not overlapped by the next). */
  private rechecking = false;

  constructor(private readonly deps: HubDeps) {
    this.recheckTimer = setInterval(() => void this.recheckAll(), deps.recheckMs);
    this.recheckTimer.unref();
  }

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
    const current = await this.currentPrincipal(conn, principal);
    if (!current) return;
    for (const vehicleId of new Set(message.vehicleIds)) await this.subscribe(conn, current, vehicleId);
  }

  /**
   * The socket's principal as it is now: a role or grant may have changed since it authenticated, and
   * the event saying so may have been lost, so each subscribe acts with what the user may do now.
   */
  private async currentPrincipal(conn: LiveConnection, principal: Principal): Promise<Principal | null> {
    let current: Principal | null;
    try {
      current = await this.deps.recheck(principal);
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'live principal re-check failed');
      conn.send({ type: 'error', code: 'unavailable', message: 'could not check your access; try again' });
      return null;
    }
    if (conn.closed) return null;
    if (!current) {
      conn.close(LiveClose.loginEnded, 'login ended: its credentials are no longer valid');
      return null;
    }
    conn.principal = current;
    return current;
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
   * Re-authorises a socket: its principal is looked up again (current role; null when its login or token
   * ended) and each subscribed vehicle re-checked with it. A socket whose credentials no longer count is
   * closed with `loginEnded`; one subscribed to a vehicle it may no longer read with `accessRevoked`.
   * Answers whether the socket stays open.
   */
  private async reauthorize(conn: LiveConnection): Promise<boolean> {
    const before = conn.principal;
    if (!before || conn.closed) return false;
    const principal = await this.deps.recheck(before);
    if (conn.closed) return false;
    if (!principal) {
      conn.close(LiveClose.loginEnded, 'login ended: its credentials are no longer valid');
      return false;
    }
    conn.principal = principal;
    const ids = [...conn.vehicles.keys()];
    if (ids.length === 0) return true;
    const readable = await this.deps.readable(principal, ids);
    // A vehicle unsubscribed meanwhile no longer matters.
    if (ids.every((id) => readable.has(id) || !conn.vehicles.has(id))) return true;
    conn.close(LiveClose.accessRevoked, 'access to a subscribed vehicle was revoked');
    return false;
  }

  /**
   * A user's rights shrank (a vehicle unshared or deleted, a role lowered, the user disabled): their
   * sockets following that vehicle (or any, without one) stop getting updates at once, and each of their
   * sockets is re-authorised. When the check itself fails, the socket closes: it may reconnect.
   */
  async revokeAccess(userId: string, vehicleId?: string): Promise<void> {
    const affected = [...this.connections].filter((c) => c.principal?.userId === userId);
    for (const conn of affected) {
      if (vehicleId === undefined ? conn.vehicles.size > 0 : conn.vehicles.has(vehicleId)) conn.pause();
    }
    await Promise.all(
      affected.map(async (conn) => {
        try {
          if (await this.reauthorize(conn)) conn.resume();
        } catch (error) {
          this.deps.logger.warn({ err: error }, 'live re-authorisation failed');
          conn.close(1011, 'could not re-check access: reconnect');
        }
      }),
    );
  }

  /** An API token was revoked: the sockets it authenticated close at once. */
  revokeToken(tokenId: string): void {
    for (const conn of this.connections) {
      if (conn.principal?.tokenId === tokenId) conn.close(LiveClose.loginEnded, 'login ended: token revoked');
    }
  }

  /**
   * The backstop for a revocation whose event never arrived (pub/sub may drop a message): every socket is
   * re-authorised every `recheckMs`, one after another so the database sees a trickle, not a burst.
   */
  private async recheckAll(): Promise<void> {
    if (this.rechecking) return;
    this.rechecking = true;
    try {
      for (const conn of [...this.connections]) {
        if (!conn.principal || conn.closed) continue;
        // A failed check (database away) leaves the socket as it is until the next round.
        await this.reauthorize(conn).catch((error: unknown) => {
          this.deps.logger.warn({ err: error }, 'live periodic re-check failed');
        });
      }
    } finally {
      this.rechecking = false;
    }
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
    clearInterval(this.recheckTimer);
    for (const conn of this.connections) conn.close(1001, 'server shutting down');
  }
}
