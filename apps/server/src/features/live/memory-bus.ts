import { HandlerTable, type LiveBus } from './bus.js';

/** The single-instance bus: delivery is a synchronous loop over the vehicle's handlers. */
export class MemoryBus implements LiveBus {
  private readonly table = new HandlerTable();
  private readonly control = new Set<(message: string) => void>();
  constructor(private readonly onError: (error: unknown) => void = () => {}) {}

  async publish(vehicleId: string, payload: string): Promise<void> {
    this.table.deliver(vehicleId, payload, this.onError);
  }

  async subscribe(vehicleId: string, handler: (payload: string) => void): Promise<() => void> {
    this.table.add(vehicleId, handler);
    return () => {
      this.table.remove(vehicleId, handler);
    };
  }

  reaches(vehicleId: string): boolean {
    return this.table.has(vehicleId);
  }

  async publishControl(message: string): Promise<void> {
    for (const handler of this.control) {
      try {
        handler(message);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  async onControl(handler: (message: string) => void): Promise<() => void> {
    this.control.add(handler);
    return () => {
      this.control.delete(handler);
    };
  }

  async close(): Promise<void> {}
}
