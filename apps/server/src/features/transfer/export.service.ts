import {
  type ExportFormat,
  type ExportQuery,
  metricCatalog,
  type Session,
  type SessionExportQuery,
  type SessionStats,
  TRANSFER_MEDIA,
  type UnitPreferences,
} from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { Invalid, TooManyRequests } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Principal } from '../auth/principal.js';
import type { SessionsService } from '../sessions/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { CsvWriter } from './csv-writer.js';
import {
  GpxWriter,
  geojsonCoordinates,
  geojsonTimes,
  NdjsonWriter,
  sessionProperties,
} from './export-writers.js';
import { samplePages } from './sample-pages.js';

/** An export ready to stream: its headers, and its body as text chunks (one page of samples each). */
export interface ExportStream {
  contentType: string;
  fileName: string;
  body: AsyncGenerator<string>;
}

/** What GPX and CSV carry by default besides the position: speed and battery level (issue 19). */
const DEFAULT_POINT_METRICS = ['speed_kmh', 'battery_level_pct'];
const SESSIONS_PER_PAGE = 100;

/**
 * Exports of a vehicle's samples over a range, or of one session, in CSV, NDJSON, GPX or GeoJSON. Anyone
 * who may read the vehicle may export it; each user runs one export at a time (429 otherwise), so one
 * person cannot take the database's time from everyone else.
 */
export class ExportService {
  /** Users with an export running (this instance). */
  private readonly running = new Set<string>();

  constructor(
    private readonly deps: {
      db: Db;
      clock: Clock;
      vehicles: Vehicles;
      sessions: SessionsService;
      logger: Logger;
      /** Resolves once the vehicles' current state includes every committed batch (CSV columns come from it). */
      derivedReady: () => Promise<void>;
      /** The units a user reads values in (their setting; the canonical units when never chosen). */
      unitPreferences: (userId: string) => Promise<UnitPreferences>;
    },
  ) {}

  async vehicle(actor: Principal, vehicleId: string, query: ExportQuery): Promise<ExportStream> {
    const vehicle = await this.deps.vehicles.authorize(actor, 'read', vehicleId);
    const now = this.deps.clock.now();
    const from = query.from === undefined ? 0 : parseTime(query.from, 'from');
    const to = query.to === undefined ? now : parseTime(query.to, 'to');
    if (from > to) throw new Invalid('from: must not be after to');
    const metrics = query.metrics === undefined ? null : parseMetrics(query.metrics);
    const label = vehicle.vin || vehicle.id;
    const range = `${query.from === undefined ? 'start' : fileTime(from)}_${fileTime(to)}`;
    const fileName = safeFileName(`tacho-${label}-${range}.${TRANSFER_MEDIA[query.format].extension}`);
    const release = this.acquire(actor);
    const db = this.deps.db;
    const format = query.format;
    let body: AsyncGenerator<string>;
    if (format === 'geojson') {
      body = this.geojson(vehicleId, from, to, null);
    } else if (format === 'csv') {
      const columns = metrics ?? (await this.knownMetrics(vehicleId));
      body = csv(db, vehicleId, from, to, columns, await this.csvUnits(actor, query.units));
    } else if (format === 'ndjson') {
      body = ndjson(db, vehicleId, from, to, metrics);
    } else {
      body = gpx(db, vehicleId, from, to, metrics ?? DEFAULT_POINT_METRICS, {
        name: `${vehicle.name} (${label})`,
        desc: `Tacho export of ${vehicle.name}, ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`,
        timeMs: now,
        trackName: `${vehicle.name} ${new Date(from).toISOString().slice(0, 10)} to ${new Date(to).toISOString().slice(0, 10)}`,
        trackType: 'range',
      });
    }
    this.deps.logger.info({ vehicleId, format, from, to, userId: actor.userId }, 'export started');
    return { contentType: TRANSFER_MEDIA[format].contentType, fileName, body: guarded(body, release) };
  }

  async session(actor: Principal, sessionId: string, query: SessionExportQuery): Promise<ExportStream> {
    const session = await this.deps.sessions.get(actor, sessionId);
    const vehicle = await this.deps.vehicles.authorize(actor, 'read', session.vehicleId);
    const now = this.deps.clock.now();
    const from = session.startMs;
    const to = session.endMs ?? now;
    const metrics = query.metrics === undefined ? null : parseMetrics(query.metrics);
    const label = vehicle.vin || vehicle.id;
    const fileName = safeFileName(
      `tacho-${label}-${session.kind}-${fileTime(from)}.${TRANSFER_MEDIA[query.format].extension}`,
    );
    const release = this.acquire(actor);
    const db = this.deps.db;
    let body: AsyncGenerator<string>;
    switch (query.format) {
      case 'geojson':
        body = this.geojson(session.vehicleId, from, to, session);
        break;
      case 'csv':
        body = csv(
          db,
          session.vehicleId,
          from,
          to,
          metrics ?? (await this.knownMetrics(session.vehicleId)),
          await this.csvUnits(actor, query.units),
        );
        break;
      case 'ndjson':
        body = ndjson(db, session.vehicleId, from, to, metrics);
        break;
      default:
        body = gpx(db, session.vehicleId, from, to, metrics ?? DEFAULT_POINT_METRICS, {
          name: `${vehicle.name} (${label})`,
          desc: `Tacho export of a ${session.kind} of ${vehicle.name}`,
          timeMs: now,
          trackName: session.name ?? `${session.kind} ${new Date(from).toISOString()}`,
          trackType: session.kind,
        });
        break;
    }
    this.deps.logger.info({ sessionId, format: query.format, userId: actor.userId }, 'export started');
    return { contentType: TRANSFER_MEDIA[query.format].contentType, fileName, body: guarded(body, release) };
  }

  /**
   * The units a CSV export is written in: the reader's preferences unless `stored` is asked for (a device
   * token reads in those of the user who made it); null for the canonical units, as stored.
   */
  private async csvUnits(actor: Principal, units: ExportQuery['units']): Promise<UnitPreferences | null> {
    if (units === 'stored') return null;
    const preferences = await this.deps.unitPreferences(actor.userId);
    const canonical =
      preferences.distance === 'km' && preferences.temperature === 'c' && preferences.pressure === 'kpa';
    return canonical ? null : preferences;
  }

  /** One export per user at a time; the returned function ends it. */
  private acquire(actor: Principal): () => void {
    const key = actor.kind === 'user' ? `user:${actor.userId}` : `device:${actor.tokenId}`;
    if (this.running.has(key))
      throw new TooManyRequests(
        'an export of yours is still running: wait for it to finish',
        5,
        'export_running',
      );
    this.running.add(key);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running.delete(key);
    };
  }

  /** The catalog metrics the vehicle ever reported (its current state holds each one's newest value). */
  private async knownMetrics(vehicleId: string): Promise<string[]> {
    await this.deps.derivedReady();
    const rows = await this.deps.db
      .selectFrom('vehicle_state')
      .select('metric')
      .where('vehicle_id', '=', vehicleId)
      .execute();
    const seen = new Set(rows.map((r) => r.metric));
    return [...metricCatalog.keys()].filter((k) => seen.has(k));
  }

  /**
   * A FeatureCollection with one feature per session (the one exported, or each session of the vehicle
   * that overlaps the range, oldest first): a LineString of its positions (a Point for one, no geometry
   * for none), its stats as properties and its points' times in `coordinateProperties.times`. Each
   * feature reads its samples twice (times, then coordinates), a page at a time.
   */
  private async *geojson(
    vehicleId: string,
    from: number,
    to: number,
    only: Session | null,
  ): AsyncGenerator<string> {
    const db = this.deps.db;
    yield '{"type":"FeatureCollection","features":[';
    let first = true;
    for await (const session of only ? one(only) : sessionsOverlapping(db, vehicleId, from, to)) {
      const start = Math.max(from, session.startMs);
      const end = Math.min(to, session.endMs ?? to);
      const props = JSON.stringify(sessionProperties(session));
      yield `${first ? '' : ','}\n{"type":"Feature","properties":${props.slice(0, -1)},"coordinateProperties":{"times":[`;
      first = false;
      // The times first, counting the points: the count says which geometry the coordinates make.
      let points = 0;
      for await (const page of samplePages(db, vehicleId, start, end)) {
        const text = geojsonTimes(page, points === 0);
        for (const s of page) if (s.lat !== null && s.lon !== null) points++;
        if (text) yield text;
      }
      if (points === 0) {
        yield ']}},"geometry":null}';
        continue;
      }
      yield `]}},"geometry":{"type":"${points === 1 ? 'Point' : 'LineString'}","coordinates":${points === 1 ? '' : '['}`;
      let firstPoint = true;
      for await (const page of samplePages(db, vehicleId, start, end)) {
        const text = geojsonCoordinates(page, firstPoint);
        if (text) {
          firstPoint = false;
          yield text;
        }
      }
      yield `${points === 1 ? '' : ']'}}}`;
    }
    yield '\n]}\n';
  }
}

async function* one(session: Session): AsyncGenerator<Session> {
  yield session;
}

/** The vehicle's sessions that overlap the range, oldest first, keyset-paged on (start, id). */
async function* sessionsOverlapping(
  db: Db,
  vehicleId: string,
  from: number,
  to: number,
): AsyncGenerator<Session> {
  let after: { startMs: number; id: string } | null = null;
  for (;;) {
    let q = db
      .selectFrom('sessions')
      .selectAll()
      .where('vehicle_id', '=', vehicleId)
      .where('start_ms', '<=', to)
      .where((eb) => eb.or([eb('end_ms', 'is', null), eb('end_ms', '>=', from)]));
    if (after) {
      const { startMs, id } = after;
      q = q.where((eb) =>
        eb.or([eb('start_ms', '>', startMs), eb.and([eb('start_ms', '=', startMs), eb('id', '>', id)])]),
      );
    }
    const rows = await q.orderBy('start_ms').orderBy('id').limit(SESSIONS_PER_PAGE).execute();
    for (const r of rows) {
      yield {
        id: r.id,
        vehicleId: r.vehicle_id,
        kind: r.kind,
        name: r.name,
        startMs: Number(r.start_ms),
        endMs: r.end_ms === null ? null : Number(r.end_ms),
        stats: JSON.parse(r.stats) as SessionStats,
      };
    }
    if (rows.length < SESSIONS_PER_PAGE) return;
    const last = rows[rows.length - 1]!;
    after = { startMs: Number(last.start_ms), id: last.id };
  }
}

async function* csv(
  db: Db,
  vehicleId: string,
  from: number,
  to: number,
  metrics: readonly string[],
  units: UnitPreferences | null,
) {
  const writer = new CsvWriter(metrics, units);
  yield writer.head();
  for await (const page of samplePages(db, vehicleId, from, to)) yield writer.page(page);
}

async function* ndjson(
  db: Db,
  vehicleId: string,
  from: number,
  to: number,
  metrics: readonly string[] | null,
) {
  const writer = new NdjsonWriter(metrics);
  for await (const page of samplePages(db, vehicleId, from, to)) {
    const text = writer.page(page);
    if (text) yield text;
  }
}

async function* gpx(
  db: Db,
  vehicleId: string,
  from: number,
  to: number,
  metrics: readonly string[],
  meta: ConstructorParameters<typeof GpxWriter>[1],
) {
  const writer = new GpxWriter(metrics, meta);
  yield writer.head();
  for await (const page of samplePages(db, vehicleId, from, to)) {
    const text = writer.page(page);
    if (text) yield text;
  }
  yield writer.tail();
}

/** Runs `release` however the body ends: finished, failed, or dropped by a client that went away. */
async function* guarded(body: AsyncGenerator<string>, release: () => void): AsyncGenerator<string> {
  try {
    yield* body;
  } finally {
    release();
  }
}

/** Epoch milliseconds, or ISO-8601 (a date alone is midnight UTC). */
export function parseTime(value: string, name: string): number {
  const text = value.trim();
  if (/^\d{1,16}$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new Invalid(`${name}: "${text.slice(0, 40)}" is neither epoch milliseconds nor an ISO-8601 time`);
  return ms;
}

function parseMetrics(value: string): string[] {
  const keys = value
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  for (const k of keys)
    if (!metricCatalog.has(k)) throw new Invalid(`metrics: "${k.slice(0, 64)}" is not a catalog metric`);
  return [...new Set(keys)];
}

/** `2026-01-01` for a midnight, else `2026-01-01T103000Z`. */
function fileTime(ms: number): string {
  const text = new Date(ms).toISOString();
  return text.endsWith('T00:00:00.000Z') ? text.slice(0, 10) : `${text.slice(0, 19).replaceAll(':', '')}Z`;
}

function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export type { ExportFormat };
