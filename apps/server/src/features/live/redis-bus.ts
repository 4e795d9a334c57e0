import { Redis } from 'ioredis';
import { HandlerTable, type LiveBus } from './bus.js';

export interface RedisBusOptions {
  url: string;
  /** Channel prefix; tests give each run its own so parallel runs never hear each other. */
  prefix?: string;
  onError?: (error: unknown) => void;
}

/**
 * Fan-out between instances through Redis pub/sub: one connection publishes, one subscribes to a channel
 * per vehicle that has a local subscriber (so an instance only receives what its sockets want). Pub/sub
 * is fire-and-forget; a client that misses updates during a Redis outage resyncs from its snapshot.
 */
export class RedisBus implements LiveBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly table = new HandlerTable();
  private readonly prefix: string;
  private readonly onError: (error: unknown) => void;
  /** Pending SUBSCRIBE/UNSUBSCRIBE per vehicle, chained so they reach Redis in call order. */
  private readonly pending = new Map<string, Promise<unknown>>();
  /** The control channel; `!` never occurs in a vehicle id, so it cannot clash with one. */
  private readonly controlChannel: string;
  private readonly controlHandlers = new Set<(message: string) => void>();

  constructor(options: RedisBusOptions) {
    this.prefix = options.prefix ?? 'tacho:live:';
    this.onError = options.onError ?? (() => {});
    this.controlChannel = `${this.prefix}!control`;
    // Publishing must not queue without bound while Redis is down: fail fast instead.
    this.pub = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
    });
    this.sub = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.pub.on('error', this.onError);
    this.sub.on('error', this.onError);
    this.sub.on('message', (channel: string, payload: string) => {
      if (channel === this.controlChannel) return this.deliverControl(payload);
      if (!channel.startsWith(this.prefix)) return;
      this.table.deliver(channel.slice(this.prefix.length), payload, this.onError);
    });
  }

  /** Connects both connections; rejects when Redis cannot be reached. */
  async connect(): Promise<void> {
    await Promise.all([this.pub.connect(), this.sub.connect()]);
  }

  async publish(vehicleId: string, payload: string): Promise<void> {
    await this.pub.publish(this.prefix + vehicleId, payload);
  }

  async subscribe(vehicleId: string, handler: (payload: string) => void): Promise<() => void> {
    if (this.table.add(vehicleId, handler)) {
      await this.chain(vehicleId, () => this.sub.subscribe(this.prefix + vehicleId));
    } else {
      await this.pending.get(vehicleId);
    }
    return () => {
      if (this.table.remove(vehicleId, handler)) {
        void this.chain(vehicleId, () => this.sub.unsubscribe(this.prefix + vehicleId)).catch(this.onError);
      }
    };
  }

  async publishControl(message: string): Promise<void> {
    await this.pub.publish(this.controlChannel, message);
  }

  async onControl(handler: (message: string) => void): Promise<() => void> {
    this.controlHandlers.add(handler);
    if (this.controlHandlers.size === 1) {
      await this.chain(this.controlChannel, () => this.sub.subscribe(this.controlChannel));
    } else {
      await this.pending.get(this.controlChannel);
    }
    return () => {
      if (!this.controlHandlers.delete(handler) || this.controlHandlers.size > 0) return;
      const channel = this.controlChannel;
      void this.chain(channel, () => this.sub.unsubscribe(channel)).catch(this.onError);
    };
  }

  private deliverControl(message: string): void {
    for (const handler of this.controlHandlers) {
      try {
        handler(message);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  private chain(vehicleId: string, step: () => Promise<unknown>): Promise<unknown> {
    const previous = this.pending.get(vehicleId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(step);
    this.pending.set(vehicleId, next);
    void next
      .finally(() => {
        if (this.pending.get(vehicleId) === next) this.pending.delete(vehicleId);
      })
      .catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
