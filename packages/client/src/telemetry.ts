import type { DeadLetterPage, DeadLettersQuery, NativeMessage, PublishResult } from '@tacho/protocol';
import type { HttpTransport } from './http.js';

/** Telemetry ingest over HTTP (device or user token) and the dead letters (admin). */
export class TelemetryApi {
  constructor(private readonly http: HttpTransport) {}

  /** Sends one message or up to 1,000; answers after they are committed. */
  publish(vin: string, messages: NativeMessage | readonly NativeMessage[]): Promise<PublishResult> {
    return this.http.request('POST', `vehicles/${encodeURIComponent(vin)}/telemetry`, { body: messages });
  }

  /** Refused messages, newest first; pass the previous page's `nextBefore` as `before`. */
  deadLetters(query: Partial<DeadLettersQuery> = {}): Promise<DeadLetterPage> {
    return this.http.request('GET', 'admin/dead-letters', { query });
  }
}
