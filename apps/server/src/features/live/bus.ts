/**
 * The live bus carries each vehicle's updates, already serialized, from whichever instance ingested them to
 * every instance that has a socket subscribed to that vehicle. In-process by default; Redis pub/sub when
 * `TACHO_REDIS_URL` is set, so a client connected to any instance sees every vehicle's updates.
 */
export interface LiveBus {
  /** Sends a serialized update to every subscriber of the vehicle, on every instance. */
  publish(vehicleId: string, payload: string): Promise<void>;
  /** Calls `handler` with each payload published for the vehicle, in order; resolves once subscribed. */
  subscribe(vehicleId: string, handler: (payload: string) => void): Promise<() => void>;
  /**
   * False when no subscriber anywhere can receive the vehicle's updates, so none need be built. Only a bus
   * that sees every subscriber (the in-process one) can say so; without it, updates are always published.
   */
  reaches?(vehicleId: string): boolean;
  /**
   * The control channel: small messages every instance hears, this one included (revocations, so each
   * instance closes the sockets and MQTT connections it holds). Like updates, one may be lost.
   */
  publishControl(message: string): Promise<void>;
  /** Calls `handler` with each control message; resolves once subscribed. */
  onControl(handler: (message: string) => void): Promise<() => void>;
  close(): Promise<void>;
}

/** Tracks local handlers per vehicle; tells the caller when a vehicle gains its first or loses its last. */
export class HandlerTable {
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();

  /** Returns true when this is the vehicle's first handler. */
  add(vehicleId: string, handler: (payload: string) => void): boolean {
    let set = this.handlers.get(vehicleId);
    const first = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(vehicleId, set);
    }
    set.add(handler);
    return first;
  }

  /** Returns true when the vehicle has no handler left. */
  remove(vehicleId: string, handler: (payload: string) => void): boolean {
    const set = this.handlers.get(vehicleId);
    if (!set?.delete(handler)) return false;
    if (set.size > 0) return false;
    this.handlers.delete(vehicleId);
    return true;
  }

  deliver(vehicleId: string, payload: string, onError: (error: unknown) => void): void {
    const set = this.handlers.get(vehicleId);
    if (!set) return;
    for (const handler of set) {
      try {
        handler(payload);
      } catch (error) {
        onError(error);
      }
    }
  }

  has(vehicleId: string): boolean {
    return this.handlers.has(vehicleId);
  }

  get vehicleCount(): number {
    return this.handlers.size;
  }
}
