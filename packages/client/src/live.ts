import {
  type Alert,
  applyUpdate,
  LIVE_PATH,
  type LiveServerMessage,
  type UpdateMessage,
  type VehicleState,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';
import { ReadingsApi } from './readings.js';

/** The parts of a WebSocket the client uses: the browser's global and Node's `ws` both fit. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string, headers: Record<string, string>) => SocketLike;

export type LiveStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface VehicleListener {
  /** The vehicle's whole current state: after each snapshot (subscribe, reconnect, resync) and update. */
  state?(state: VehicleState, update?: UpdateMessage): void;
  /** The server refused the vehicle (`not_found`: not visible to this user). */
  error?(code: string, message: string): void;
  /** An alert of the vehicle fired, was acknowledged or resolved. */
  alert?(alert: Alert): void;
}

export interface LiveOptions {
  http: HttpTransport;
  /**
   * Opens the socket. Defaults to the global WebSocket (browsers, Node 22+). In Node 20 pass one built on
   * `ws`: `(url, headers) => new WebSocket(url, { headers })`.
   */
  socket?: SocketFactory;
  /** Reconnect back-off bounds. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Ping interval; a socket that does not answer within it is considered dead and replaced. */
  pingEveryMs?: number;
}

const OPEN = 1;

/**
 * The live socket: authenticates (cookie, or the bearer token in the first message), subscribes, keeps a
 * current state per vehicle from snapshots and updates, and on any drop reconnects with back-off,
 * resyncs each vehicle's state from REST and resubscribes (the snapshots then close the gap).
 */
export class LiveClient {
  private readonly listeners = new Map<string, Set<VehicleListener>>();
  private readonly states = new Map<string, VehicleState>();
  private readonly statusListeners = new Set<(status: LiveStatus, detail?: string) => void>();
  private socket: SocketLike | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private awaitingPong = false;
  private stopped = false;
  private ready = false;
  status: LiveStatus = 'closed';

  constructor(private readonly options: LiveOptions) {}

  /** Follows a vehicle; returns the function that stops following it. Connects on first use. */
  subscribe(vehicleId: string, listener: VehicleListener): () => void {
    let set = this.listeners.get(vehicleId);
    const first = !set;
    if (!set) {
      set = new Set();
      this.listeners.set(vehicleId, set);
    }
    set.add(listener);
    const known = this.states.get(vehicleId);
    if (known) listener.state?.(known);
    this.stopped = false;
    if (!this.socket) this.connect();
    else if (first && this.ready) this.send({ type: 'subscribe', vehicleIds: [vehicleId] });
    return () => {
      const current = this.listeners.get(vehicleId);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(vehicleId);
      this.states.delete(vehicleId);
      if (this.ready) this.send({ type: 'unsubscribe', vehicleIds: [vehicleId] });
    };
  }

  onStatus(listener: (status: LiveStatus, detail?: string) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** The last known state of a followed vehicle. */
  stateOf(vehicleId: string): VehicleState | undefined {
    return this.states.get(vehicleId);
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopPing();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'client closed');
    this.setStatus('closed');
  }

  private setStatus(status: LiveStatus, detail?: string): void {
    this.status = status;
    for (const l of this.statusListeners) l(status, detail);
  }

  private wsUrl(): string {
    const http = this.options.http;
    const base =
      http.baseUrl ||
      (typeof location !== 'undefined' ? `${location.protocol}//${location.host}` : 'http://127.0.0.1');
    return `${base.replace(/^http/, 'ws')}${LIVE_PATH}`;
  }

  private openSocket(): SocketLike {
    const headers: Record<string, string> = {};
    const cookie = this.options.http.cookieHeader();
    if (cookie) headers.cookie = cookie;
    if (this.options.socket) return this.options.socket(this.wsUrl(), headers);
    const Ctor = (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
    if (!Ctor) throw new Error('no WebSocket available: pass `socket` (Node 20: build it on the ws package)');
    return new Ctor(this.wsUrl());
  }

  private connect(): void {
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    this.ready = false;
    let socket: SocketLike;
    try {
      socket = this.openSocket();
    } catch (error) {
      this.setStatus('closed', (error as Error).message);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      const token = this.options.http.mode === 'bearer' ? this.options.http.token() : null;
      if (token) this.send({ type: 'auth', token });
    };
    socket.onmessage = (ev) => this.onMessage(String(ev.data));
    socket.onerror = () => {};
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.ready = false;
      this.stopPing();
      if (this.stopped) return;
      void this.afterClose(ev.code, ev.reason);
    };
  }

  private async afterClose(code: number, reason: string): Promise<void> {
    // 4401: credentials missing, invalid or the login ended. A refreshed login may fix it; else stop.
    if (code === 4401) {
      const refreshed = await this.options.http.refresh();
      if (!refreshed) {
        this.stopped = true;
        this.setStatus('closed', reason || 'unauthorized');
        return;
      }
    }
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    const min = this.options.minDelayMs ?? 500;
    const max = this.options.maxDelayMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    this.setStatus('reconnecting', reason);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      void this.resync();
      this.connect();
    }, delay);
  }

  /** After a gap, fetch the current state over REST so the view is right even before the socket is back. */
  private async resync(): Promise<void> {
    const readings = new ReadingsApi(this.options.http);
    await Promise.all(
      [...this.listeners.keys()].map(async (vehicleId) => {
        try {
          const state = await readings.state(vehicleId);
          // A snapshot may have arrived meanwhile; keep whichever is newer.
          const current = this.states.get(vehicleId);
          if (!current || (current.lastSeenMs ?? 0) <= (state.lastSeenMs ?? 0))
            this.setState(vehicleId, state);
        } catch {
          // The socket's snapshot will bring it.
        }
      }),
    );
  }

  private send(message: unknown): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(message));
  }

  private setState(vehicleId: string, state: VehicleState, update?: UpdateMessage): void {
    this.states.set(vehicleId, state);
    for (const l of this.listeners.get(vehicleId) ?? []) l.state?.(state, update);
  }

  private onMessage(text: string): void {
    let message: LiveServerMessage;
    try {
      message = JSON.parse(text) as LiveServerMessage;
    } catch {
      return;
    }
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.attempt = 0;
        this.setStatus('open');
        this.startPing();
        if (this.listeners.size > 0) this.send({ type: 'subscribe', vehicleIds: [...this.listeners.keys()] });
        return;
      case 'snapshot':
        if (this.listeners.has(message.vehicleId)) this.setState(message.vehicleId, message.state);
        return;
      case 'update': {
        const current = this.states.get(message.vehicleId);
        if (current) this.setState(message.vehicleId, applyUpdate(current, message), message);
        return;
      }
      case 'pong':
        this.awaitingPong = false;
        return;
      case 'alert':
        for (const l of this.listeners.get(message.alert?.vehicleId) ?? []) l.alert?.(message.alert);
        return;
      case 'error':
        if (message.vehicleId)
          for (const l of this.listeners.get(message.vehicleId) ?? [])
            l.error?.(message.code, message.message);
        return;
    }
  }

  private startPing(): void {
    this.stopPing();
    const every = this.options.pingEveryMs ?? 25_000;
    this.pingTimer = setInterval(() => {
      if (this.awaitingPong) {
        // No answer for a whole interval: the connection is dead even if TCP has not noticed.
        this.socket?.close(4000, 'no pong');
        return;
      }
      this.awaitingPong = true;
      this.send({ type: 'ping' });
    }, every);
    (this.pingTimer as { unref?: () => void }).unref?.();
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.awaitingPong = false;
  }
}
