import type { NativeMessage } from '@tacho/protocol';
import type { HttpTransport } from './http.js';

export interface PublishResult {
  stored: number;
  duplicates: number;
  rejected: number;
  errors: Array<{ index: number; reason: string }>;
}

export interface DeadLetterView {
  id: number;
  source: string;
  topic: string;
  vehicleId: string | null;
  reason: string;
  payload: string;
  receivedMs: number;
}

/** Telemetry ingest over HTTP (device or user token) and the dead letters (admin). */
export class TelemetryApi {
  constructor(private readonly http: HttpTransport) {}

  /** Sends one message or up to 1,000; answers after they are committed. */
  publish(vin: string, messages: NativeMessage | readonly NativeMessage[]): Promise<PublishResult> {
    return this.http.request('POST', `vehicles/${encodeURIComponent(vin)}/telemetry`, { body: messages });
  }

  deadLetters(query: { limit?: number; before?: number } = {}): Promise<{
    items: DeadLetterView[];
    nextBefore: number | null;
  }> {
    return this.http.request('GET', 'admin/dead-letters', { query });
  }
}
