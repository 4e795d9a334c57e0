import { EventEmitter } from 'node:events';

/**
 * Events emitted after a commit. The ingest path emits; live, sessions, alerts and sync listen. The ingest
 * path never calls a consumer directly, and a listener's failure never reaches the emitter.
 */
export interface DomainEvents {
  /** Samples committed for one vehicle (in device-time order), with what changed in its current state. */
  'samples.stored': [
    event: {
      vehicleId: string;
      samples: ReadonlyArray<{
        tsMs: number;
        seq: number;
        metrics: Readonly<Record<string, number | string | boolean>>;
        position?: {
          lat: number;
          lon: number;
          alt_m?: number;
          heading_deg?: number;
          speed_kmh?: number;
          accuracy_m?: number;
        };
        raw?: Readonly<Record<string, number | string | boolean>>;
      }>;
    },
  ];
  /** A user's access to a vehicle ended (unshared, vehicle deleted, user disabled): live streams stop. */
  'access.revoked': [event: { vehicleId?: string; userId: string }];
  /** A login ended (logout, revoked, password change, user disabled): its sockets close. */
  'login.ended': [event: { loginId?: string; userId: string; reason: string }];
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
