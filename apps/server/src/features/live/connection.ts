import type { LiveServerMessage, UpdateMessage } from '@tacho/protocol';
import { LiveClose } from '@tacho/protocol';
import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal.js';
import { mergeUpdates } from './updates.js';

/** Limits that keep one slow reader from costing memory or slowing others. */
export interface FlowLimits {
  /** Bytes the socket may have queued before updates are merged instead of sent. */
  highWaterBytes: number;
  /** Queued bytes under which merged updates are sent again. */
  lowWaterBytes: number;
  /** A socket still over the high-water mark after this long is closed with 1008. */
  stuckMs: number;
  /** How often a congested socket is looked at. */
  checkEveryMs: number;
}

export const defaultFlowLimits: FlowLimits = {
  highWaterBytes: 64 * 1024,
  lowWaterBytes: 16 * 1024,
  stuckMs: 10_000,
  checkEveryMs: 50,
};

/**
 * One live socket. Updates arrive as one shared, already serialized Buffer per update and are written as
 * is; only a congested socket parses and merges them (latest value per metric and vehicle), which bounds
 * its memory by (vehicles × metrics) whatever the update rate.
 */
export class LiveConnection {
  principal: Principal | null = null;
  /** Subscribed vehicles; a vehicle whose snapshot is still being read holds the updates that arrive meanwhile. */
  readonly vehicles = new Map<string, { held: Buffer[] | null }>();
  private merged: Map<string, UpdateMessage> | null = null;
  private congestedSinceMs = 0;
  private timer: NodeJS.Timeout | null = null;
  /** While a revocation is being checked, updates wait here (bounded) instead of going out. */
  private pausedHeld: Array<[string, Buffer]> | null = null;
  closed = false;

  constructor(
    readonly socket: WebSocket,
    private readonly limits: FlowLimits,
    private readonly now: () => number,
  ) {}

  /** Sends a message built for this socket alone (snapshot, error, pong). */
  send(message: LiveServerMessage): void {
    if (this.closed) return;
    this.socket.send(JSON.stringify(message));
  }

  /** Delivers a shared update frame for a vehicle this socket is subscribed to. */
  deliver(vehicleId: string, frame: Buffer): void {
    if (this.closed) return;
    if (this.pausedHeld) {
      if (this.pausedHeld.length < 1024) this.pausedHeld.push([vehicleId, frame]);
      return;
    }
    const sub = this.vehicles.get(vehicleId);
    if (!sub) return;
    if (sub.held) {
      // Bounded: a snapshot read takes milliseconds; past this, the snapshot is newer than what is dropped.
      if (sub.held.length < 256) sub.held.push(frame);
      return;
    }
    if (this.merged) {
      this.merge(frame);
      return;
    }
    if (this.socket.bufferedAmount > this.limits.highWaterBytes) {
      this.merged = new Map();
      this.congestedSinceMs = this.now();
      this.merge(frame);
      this.timer = setInterval(() => this.drain(), this.limits.checkEveryMs);
      this.timer.unref();
      return;
    }
    this.socket.send(frame, { binary: false });
  }

  /** Stops sending at once (a revocation is being checked); `resume` sends what was held. */
  pause(): void {
    this.pausedHeld ??= [];
  }

  resume(): void {
    const held = this.pausedHeld;
    this.pausedHeld = null;
    for (const [vehicleId, frame] of held ?? []) this.deliver(vehicleId, frame);
  }

  /** Ends the hold after the snapshot was sent: the held updates follow it in order. */
  release(vehicleId: string): void {
    const sub = this.vehicles.get(vehicleId);
    if (!sub?.held) return;
    const held = sub.held;
    sub.held = null;
    for (const frame of held) this.deliver(vehicleId, frame);
  }

  private merge(frame: Buffer): void {
    const message = JSON.parse(frame.toString('utf8')) as { type: string };
    // Only updates fold into one another; anything else (an alert) is rare and goes out as it is.
    if (message.type !== 'update') {
      this.socket.send(frame, { binary: false });
      return;
    }
    const update = message as UpdateMessage;
    const earlier = this.merged!.get(update.vehicleId);
    this.merged!.set(
      update.vehicleId,
      earlier ? mergeUpdates(earlier, update) : { ...update, coalesced: true },
    );
  }

  private drain(): void {
    if (this.closed || !this.merged) {
      this.stopTimer();
      return;
    }
    if (this.socket.bufferedAmount <= this.limits.lowWaterBytes) {
      const pending = this.merged;
      this.merged = null;
      this.stopTimer();
      for (const update of pending.values()) if (this.vehicles.has(update.vehicleId)) this.send(update);
      return;
    }
    if (this.now() - this.congestedSinceMs > this.limits.stuckMs) {
      this.close(LiveClose.tooSlow, 'too slow: reconnect and resync from the REST state');
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Closes with a code and reason; a peer that does not read the close frame is cut off shortly after. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.merged = null;
    this.pausedHeld = null;
    this.stopTimer();
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  /** Called when the socket is gone, whoever closed it. */
  dispose(): void {
    this.closed = true;
    this.merged = null;
    this.stopTimer();
  }
}
