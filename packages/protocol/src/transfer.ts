import { type Static, Type } from 'typebox';

/**
 * Export and import of a vehicle's samples (`GET /api/v1/vehicles/:id/export`,
 * `GET /api/v1/sessions/:id/export`, `POST /api/v1/vehicles/:id/import`).
 */

export const EXPORT_FORMATS = ['csv', 'ndjson', 'gpx', 'geojson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const IMPORT_FORMATS = ['gpx', 'geojson', 'ndjson', 'csv'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** The content type each format is served with, and the file name extension. */
export const TRANSFER_MEDIA: Record<ExportFormat, { contentType: string; extension: string }> = {
  csv: { contentType: 'text/csv; charset=utf-8', extension: 'csv' },
  ndjson: { contentType: 'application/x-ndjson; charset=utf-8', extension: 'ndjson' },
  gpx: { contentType: 'application/gpx+xml; charset=utf-8', extension: 'gpx' },
  geojson: { contentType: 'application/geo+json; charset=utf-8', extension: 'geojson' },
};

/** The XML namespace of Tacho's GPX extension elements (`<tacho:speed_kmh>` in a trkpt's extensions). */
export const GPX_TACHO_NAMESPACE = 'urn:tacho:gpx:1';

const Format = Type.Union([
  Type.Literal('csv'),
  Type.Literal('ndjson'),
  Type.Literal('gpx'),
  Type.Literal('geojson'),
]);

/**
 * Which units a CSV export writes: `preferred` (the default) those of the requesting user's setting
 * (`GET /api/v1/auth/me/preferences`), each column named with its unit (`speed_mph`, `outside_temp_f`);
 * `stored` the canonical units Tacho stores (`speed_kmh`, `outside_temp_c`, `tyre_pressure_fl_kpa`).
 * NDJSON, GPX and GeoJSON are always in their canonical or standard units, whatever this says: NDJSON
 * must re-import losslessly, GPX has its own units (metres, m/s), GeoJSON is read by programs.
 */
export const EXPORT_UNITS = ['preferred', 'stored'] as const;
export type ExportUnits = (typeof EXPORT_UNITS)[number];
const Units = Type.Union([Type.Literal('preferred'), Type.Literal('stored')]);

/**
 * `?format=&from=&to=&metrics=&units=`: `from` and `to` are epoch milliseconds or ISO-8601 (a date alone
 * is midnight UTC); `metrics` is a comma-separated list of catalog keys (CSV columns; all the vehicle's
 * metrics when absent); `units` as in EXPORT_UNITS.
 */
export const ExportQuery = Type.Object({
  format: Format,
  from: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
  to: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
  metrics: Type.Optional(Type.String({ maxLength: 2000 })),
  units: Type.Optional(Units),
});
export type ExportQuery = Static<typeof ExportQuery>;

export const SessionExportQuery = Type.Object({
  format: Format,
  metrics: Type.Optional(Type.String({ maxLength: 2000 })),
  units: Type.Optional(Units),
});
export type SessionExportQuery = Static<typeof SessionExportQuery>;

export const ImportQuery = Type.Object({
  format: Type.Union([
    Type.Literal('gpx'),
    Type.Literal('geojson'),
    Type.Literal('ndjson'),
    Type.Literal('csv'),
  ]),
  /** The session name for what the file does not name (CSV and NDJSON runs, unnamed tracks). */
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export type ImportQuery = Static<typeof ImportQuery>;

/** What an import stored, after commit. */
export const ImportResult = Type.Object({
  /** Samples newly stored. */
  stored: Type.Integer(),
  /** Samples that were already stored (same vehicle, time and seq): nothing written. */
  duplicates: Type.Integer(),
  /** Points or lines refused (kept as dead letters). */
  rejected: Type.Integer(),
  /** The first distinct reasons for refusals, at most 10. */
  reasons: Type.Array(Type.String()),
  /** Manual sessions created (one per track, LineString or contiguous run not imported before). */
  sessionsCreated: Type.Integer(),
  sessionIds: Type.Array(Type.String()),
  /** Waypoints and other points kept as raw events, not positions. */
  events: Type.Integer(),
  /** Bytes of the body read. */
  bytes: Type.Integer(),
});
export type ImportResult = Static<typeof ImportResult>;
