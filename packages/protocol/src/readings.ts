import { type Static, Type } from 'typebox';
import { MetricValue, Position } from './native.js';

/**
 * Read API: current state, history, deep scan and track of one vehicle
 * (`GET /api/v1/vehicles/:id/state|samples|raw|track`). Times are epoch milliseconds.
 */

/**
 * - `online`: data within `TACHO_OFFLINE_AFTER_S` and the vehicle is in use (ignition on, moving or charging).
 * - `asleep`: data within `TACHO_OFFLINE_AFTER_S`, but parked and idle (no ignition, no speed, not charging).
 * - `offline`: no data for `TACHO_OFFLINE_AFTER_S` (or never).
 */
export const Connectivity = Type.Union([
  Type.Literal('online'),
  Type.Literal('asleep'),
  Type.Literal('offline'),
]);
export type Connectivity = Static<typeof Connectivity>;

export const MetricReading = Type.Object({ value: MetricValue, ts_ms: Type.Integer() });
export type MetricReading = Static<typeof MetricReading>;

export const PositionReading = Type.Object({
  ...Position.properties,
  ts_ms: Type.Integer(),
});
export type PositionReading = Static<typeof PositionReading>;

export const VehicleState = Type.Object({
  vehicleId: Type.String(),
  /** Latest value and its device time for every metric the vehicle has reported. */
  metrics: Type.Record(Type.String(), MetricReading),
  position: Type.Union([PositionReading, Type.Null()]),
  connectivity: Connectivity,
  /** Device time of the newest data, or null when the vehicle never reported. */
  lastSeenMs: Type.Union([Type.Integer(), Type.Null()]),
});
export type VehicleState = Static<typeof VehicleState>;

/** `?from=&to=&metrics=a,b&maxPoints=N&cursor=&limit=` */
export const SamplesQuery = Type.Object({
  from: Type.Integer({ minimum: 0 }),
  to: Type.Integer({ minimum: 0 }),
  /** Comma-separated canonical metric keys; all numeric metrics when absent (paged mode only). */
  metrics: Type.Optional(Type.String({ maxLength: 2000 })),
  /** Downsample each metric to at most this many points (largest-triangle-three-buckets). */
  maxPoints: Type.Optional(Type.Integer({ minimum: 3, maximum: 10_000 })),
  /** Paged mode: the `nextCursor` of the previous page. */
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  /** Paged mode: rows per page. */
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
});
export type SamplesQuery = Static<typeof SamplesQuery>;

/** One metric's points, columnar (what charting libraries take). */
export const Series = Type.Object({
  metric: Type.String(),
  t: Type.Array(Type.Integer()),
  v: Type.Array(Type.Number()),
});
export type Series = Static<typeof Series>;

/** With `maxPoints`: one downsampled series per metric, read from the coarsest source that keeps detail. */
export const DownsampledSamples = Type.Object({
  kind: Type.Literal('downsampled'),
  from: Type.Integer(),
  to: Type.Integer(),
  /** What the points were computed from: raw samples, per-minute or per-hour rollups. */
  source: Type.Union([Type.Literal('raw'), Type.Literal('minute'), Type.Literal('hour')]),
  series: Type.Array(Series),
});
export type DownsampledSamples = Static<typeof DownsampledSamples>;

export const SampleRow = Type.Object({
  ts_ms: Type.Integer(),
  seq: Type.Integer(),
  metrics: Type.Record(Type.String(), MetricValue),
  position: Type.Optional(Position),
});
export type SampleRow = Static<typeof SampleRow>;

/** Without `maxPoints`: the samples themselves, oldest first, a page at a time. */
export const SamplesPage = Type.Object({
  kind: Type.Literal('page'),
  from: Type.Integer(),
  to: Type.Integer(),
  samples: Type.Array(SampleRow),
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type SamplesPage = Static<typeof SamplesPage>;

export const SamplesResponse = Type.Union([DownsampledSamples, SamplesPage]);
export type SamplesResponse = Static<typeof SamplesResponse>;

export const RawKey = Type.Object({
  key: Type.String(),
  value: MetricValue,
  firstSeenMs: Type.Integer(),
  lastSeenMs: Type.Integer(),
  /** The canonical metric the key maps to, or null when unmapped. */
  canonicalKey: Type.Union([Type.String(), Type.Null()]),
  unit: Type.Union([Type.String(), Type.Null()]),
});
export type RawKey = Static<typeof RawKey>;

/** The deep scan: every device key ever seen, grouped by object id (`34183_00001_00009` → 34183). */
export const RawScan = Type.Object({
  vehicleId: Type.String(),
  groups: Type.Array(
    Type.Object({
      /** The object id, or null for keys that do not have the object/instance/resource form. */
      objectId: Type.Union([Type.String(), Type.Null()]),
      keys: Type.Array(RawKey),
    }),
  ),
});
export type RawScan = Static<typeof RawScan>;

export const TrackQuery = Type.Object({
  from: Type.Integer({ minimum: 0 }),
  to: Type.Integer({ minimum: 0 }),
  maxPoints: Type.Optional(Type.Integer({ minimum: 2, maximum: 100_000 })),
});
export type TrackQuery = Static<typeof TrackQuery>;

/** A GeoJSON Feature with a LineString ([lon, lat] order, as GeoJSON says) and the time of each point. */
export const Track = Type.Object({
  type: Type.Literal('Feature'),
  geometry: Type.Object({
    type: Type.Literal('LineString'),
    coordinates: Type.Array(Type.Array(Type.Number())),
  }),
  properties: Type.Object({
    vehicleId: Type.String(),
    times_ms: Type.Array(Type.Integer()),
    /** Points in the range before downsampling. */
    totalPoints: Type.Integer(),
  }),
});
export type Track = Static<typeof Track>;

/** Splits a device key into its object id: `34183_00001_00009` and `34183/1/9` → `34183`. */
export function rawObjectId(key: string): string | null {
  const match = /^(\d+)[_/]\d+(?:[_/]\d+)?$/.exec(key);
  return match ? String(Number(match[1])) : null;
}
