import { type Static, Type } from 'typebox';

/**
 * Recorded sessions: drives and charges found by the server, and manual recordings
 * (`/api/v1/vehicles/:id/sessions`, `/api/v1/sessions/:id`). Times are epoch milliseconds; units are in
 * the stats' names.
 */

export const SessionKind = Type.Union([
  Type.Literal('drive'),
  Type.Literal('charge'),
  Type.Literal('manual'),
]);
export type SessionKind = Static<typeof SessionKind>;

const LatLon = Type.Object({ lat: Type.Number(), lon: Type.Number() });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const SessionStats = Type.Object({
  distance_km: Type.Number(),
  duration_s: Type.Number(),
  moving_s: Type.Number(),
  max_speed_kmh: Nullable(Type.Number()),
  avg_speed_kmh: Nullable(Type.Number()),
  soc_start_pct: Nullable(Type.Number()),
  soc_end_pct: Nullable(Type.Number()),
  range_start_km: Nullable(Type.Number()),
  range_end_km: Nullable(Type.Number()),
  energy_used_kwh: Nullable(Type.Number()),
  energy_added_kwh: Nullable(Type.Number()),
  efficiency_wh_km: Nullable(Type.Number()),
  max_power_kw: Nullable(Type.Number()),
  outside_temp_avg_c: Nullable(Type.Number()),
  start_position: Nullable(LatLon),
  end_position: Nullable(LatLon),
  /** Charges: power against battery level. */
  charge_curve: Nullable(Type.Array(Type.Object({ soc_pct: Type.Number(), power_kw: Type.Number() }))),
});
export type SessionStats = Static<typeof SessionStats>;

export const Session = Type.Object({
  id: Type.String(),
  vehicleId: Type.String(),
  kind: SessionKind,
  name: Nullable(Type.String()),
  startMs: Type.Integer(),
  /** null while the session is open (a drive in progress, a recording not stopped). */
  endMs: Nullable(Type.Integer()),
  stats: SessionStats,
});
export type Session = Static<typeof Session>;

/** `?kind=&from=&to=&limit=&before=`: newest first; `before` is the previous page's `nextBefore`. */
export const SessionsQuery = Type.Object({
  kind: Type.Optional(SessionKind),
  from: Type.Optional(Type.Integer({ minimum: 0 })),
  to: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  before: Type.Optional(Type.String({ maxLength: 200 })),
});
export type SessionsQuery = Static<typeof SessionsQuery>;

export const SessionPage = Type.Object({
  items: Type.Array(Session),
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextBefore: Nullable(Type.String()),
});
export type SessionPage = Static<typeof SessionPage>;

/** `POST /api/v1/vehicles/:id/sessions`: start a manual recording. */
export const StartRecording = Type.Object({
  kind: Type.Literal('manual'),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export type StartRecording = Static<typeof StartRecording>;

export const SessionTrackQuery = Type.Object({
  maxPoints: Type.Optional(Type.Integer({ minimum: 2, maximum: 10_000 })),
});
export type SessionTrackQuery = Static<typeof SessionTrackQuery>;

/** A session's track: a GeoJSON Feature (LineString, [lon, lat]) simplified with Douglas–Peucker. */
export const SessionTrack = Type.Object({
  type: Type.Literal('Feature'),
  geometry: Type.Object({
    type: Type.Literal('LineString'),
    coordinates: Type.Array(Type.Array(Type.Number())),
  }),
  properties: Type.Object({
    sessionId: Type.String(),
    vehicleId: Type.String(),
    /** Points recorded in the session before simplification. */
    totalPoints: Type.Integer(),
  }),
});
export type SessionTrack = Static<typeof SessionTrack>;

export const SessionSamplesQuery = Type.Object({
  metrics: Type.Optional(Type.String({ maxLength: 2000 })),
  maxPoints: Type.Optional(Type.Integer({ minimum: 2, maximum: 10_000 })),
});
export type SessionSamplesQuery = Static<typeof SessionSamplesQuery>;

/** An after-commit processor's trouble with one vehicle (`GET /api/v1/admin/processing`). */
export const ProcessingFailure = Type.Object({
  processor: Type.String(),
  vehicleId: Type.String(),
  reason: Type.String(),
  failedMs: Type.Integer(),
  attempts: Type.Integer(),
  retryAtMs: Nullable(Type.Integer()),
});
export const ProcessingStatus = Type.Object({
  /**
   * How far processing is behind ingest: marks not yet consumed (committed batches no round has taken)
   * plus rounds left part-done (a vehicle with more samples than one round reads: an import, a backfill).
   * 0 once every committed sample has been processed.
   */
  backlog: Type.Integer(),
  failures: Type.Array(ProcessingFailure),
});
export type ProcessingStatus = Static<typeof ProcessingStatus>;

/**
 * A vehicle's drive and charge detection settings (`/api/v1/vehicles/:id/session-settings`); the
 * defaults are Traccar's and TeslaMate's. A change re-derives the vehicle's sessions from its samples.
 */
export const SessionSettings = Type.Object({
  /** A position-only vehicle this far from its stop is driving; within it this long, it stopped. */
  stopRadiusM: Type.Integer({ minimum: 10, maximum: 5000 }),
  stopAfterS: Type.Integer({ minimum: 10, maximum: 3600 }),
  /** No data for this long ends a drive or charge at its last sample. */
  offlineAfterS: Type.Integer({ minimum: 60, maximum: 86_400 }),
  /** Shorter drives are dropped. */
  minDriveKm: Type.Number({ minimum: 0, maximum: 100 }),
  /** Back after at least this long offline with more energy: a charge in the gap. */
  chargeGapS: Type.Integer({ minimum: 60, maximum: 86_400 }),
});
export type SessionSettings = Static<typeof SessionSettings>;

/** `PUT`: the settings to change (others keep their defaults); `{}` goes back to the defaults. */
export const SessionSettingsUpdate = Type.Partial(SessionSettings, { additionalProperties: false });
export type SessionSettingsUpdate = Static<typeof SessionSettingsUpdate>;

export const SessionSettingsView = Type.Object({
  /** What detection uses for this vehicle now. */
  settings: SessionSettings,
  defaults: SessionSettings,
});
export type SessionSettingsView = Static<typeof SessionSettingsView>;
