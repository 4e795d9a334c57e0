import type {
  DownsampledSamples,
  ProcessingStatus,
  Session,
  SessionPage,
  SessionSettingsUpdate,
  SessionSettingsView,
  SessionsQuery,
  SessionTrack,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

const s = (id: string) => `sessions/${encodeURIComponent(id)}`;

/** `SessionsQuery` of the protocol; `before` (the previous page's `nextBefore`) may be null on the first page. */
export type SessionListQuery = Omit<SessionsQuery, 'before'> & { before?: string | null };

/** Recorded sessions: drives, charges and manual recordings. */
export class SessionsApi {
  constructor(private readonly http: HttpTransport) {}

  /** One page, newest first: of one vehicle, or (no vehicle) of every vehicle the caller may see. */
  list(vehicleId: string | null, query: SessionListQuery = {}): Promise<SessionPage> {
    const path = vehicleId ? `vehicles/${encodeURIComponent(vehicleId)}/sessions` : 'sessions';
    return this.http.request('GET', path, { query: { ...query } });
  }
  get(id: string): Promise<Session> {
    return this.http.request('GET', s(id));
  }
  track(id: string, maxPoints?: number): Promise<SessionTrack> {
    return this.http.request('GET', `${s(id)}/track`, { query: { maxPoints } });
  }
  /** The session's series, downsampled to at most `maxPoints` each. */
  samples(
    id: string,
    query: { metrics?: readonly string[]; maxPoints?: number } = {},
  ): Promise<DownsampledSamples> {
    return this.http.request('GET', `${s(id)}/samples`, {
      query: { metrics: query.metrics?.join(','), maxPoints: query.maxPoints },
    });
  }
  /** Starts a manual recording of the vehicle. */
  startRecording(vehicleId: string, name?: string): Promise<Session> {
    return this.http.request('POST', `vehicles/${encodeURIComponent(vehicleId)}/sessions`, {
      body: name ? { kind: 'manual', name } : { kind: 'manual' },
    });
  }
  stopRecording(id: string): Promise<Session> {
    return this.http.request('POST', `${s(id)}/stop`);
  }
  /** Deletes the session and the samples inside it. */
  delete(id: string): Promise<void> {
    return this.http.request('DELETE', s(id));
  }
  /** The vehicle's drive and charge detection settings. */
  settings(vehicleId: string): Promise<SessionSettingsView> {
    return this.http.request('GET', `vehicles/${encodeURIComponent(vehicleId)}/session-settings`);
  }
  /** Sets them (`{}`: the defaults); the vehicle's sessions are derived again. */
  setSettings(vehicleId: string, settings: SessionSettingsUpdate): Promise<SessionSettingsView> {
    return this.http.request('PUT', `vehicles/${encodeURIComponent(vehicleId)}/session-settings`, {
      body: settings,
    });
  }
  /** Admins: how far after-commit processing is behind, and where it fails. */
  processing(): Promise<ProcessingStatus> {
    return this.http.request('GET', 'admin/processing');
  }
}
