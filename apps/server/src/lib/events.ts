import { EventEmitter } from 'node:events';
import type { MetricReading, MetricValue, Position, PositionReading } from '@tacho/protocol';

/** What `samples.stored` tells of one vehicle's committed samples. */
export interface StoredEvent {
  readonly vehicleId: string;
  /**
   * The newest committed value of each metric in these samples and the newest position, with their
   * device times, and the newest device time of any of them: what the live view needs, ready made.
   */
  readonly newest: {
    metrics: Record<string, MetricReading>;
    position?: PositionReading;
    lastTsMs: number;
  };
  /**
   * The samples themselves, in device-time order. Built when first read (a packed HTTP batch is read
   * back from its columns then): a listener that needs only `newest` should not read them.
   */
  readonly samples: ReadonlyArray<{
    readonly tsMs: number;
    readonly seq: number;
    readonly metrics: Readonly<Record<string, MetricValue>>;
    readonly position?: Position;
    readonly raw?: Readonly<Record<string, MetricValue>>;
  }>;
}

/**
 * Events emitted after a commit. The ingest path emits; live, sessions, alerts and sync listen. The ingest
 * path never calls a consumer directly, and a listener's failure never reaches the emitter.
 */
export interface DomainEvents {
  /** Samples committed for one vehicle (one event per vehicle per batch). */
  'samples.stored': [event: StoredEvent];
  /** A user's access to a vehicle ended (unshared, vehicle deleted, user disabled): live streams stop. */
  'access.revoked': [event: { vehicleId?: string; userId: string }];
  /** A login ended (logout, revoked, password change, user disabled): its sockets close. */
  'login.ended': [event: { loginId?: string; userId: string; reason: string }];
  /** An API or device token was revoked: the live sockets and MQTT connections it opened end. */
  'token.revoked': [event: { tokenId: string }];
}

export class EventBus {
  private readonly emitter = new EventEmitter({ captureRejections: false });
  constructor(private readonly onListenerError: (event: string, error: unknown) => void = () => {}) {
    this.emitter.setMaxListeners(100);
  }

  emit<K extends keyof DomainEvents>(event: K, ...args: DomainEvents[K]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        const result = (listener as (...a: DomainEvents[K]) => unknown)(...args);
        if (result instanceof Promise) result.catch((error) => this.onListenerError(event, error));
      } catch (error) {
        this.onListenerError(event, error);
      }
    }
  }

  on<K extends keyof DomainEvents>(event: K, listener: (...args: DomainEvents[K]) => unknown): () => void {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return () => this.emitter.off(event, listener as (...args: unknown[]) => void);
  }
}
