import type {
  DownsampledSamples,
  MetricValue,
  RawScan,
  SampleRow,
  SamplesPage,
  SamplesQuery,
  Series,
  Track,
  TrackQuery,
  VehicleState,
} from '@tacho/protocol';
import { rawObjectId } from '@tacho/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { Invalid } from '../../lib/errors.js';
import type { Principal } from '../auth/principal.js';
import { HOUR_MS, MINUTE_MS, type RollupPeriod } from '../telemetry/rollups.js';
import { lttb } from './lttb.js';
import { ReadingsRepo } from './readings.repo.js';
import { countRaw, readRollupGroups, readRollups } from './rollups.repo.js';
import { buildState } from './state.js';

/**
 * Checks that the actor may read the vehicle (permission `read`); throws NotFound when the vehicle is not
 * visible to them, so an id one may not see looks like one that does not exist.
 */
export type AuthorizeRead = (actor: Principal, vehicleId: string) => Promise<void>;

/** Raw samples are read for a chart only up to this many; beyond, the minute rollups answer. */
export const RAW_POINTS_LIMIT = 20_000;
/** Minute rollups are read only up to this many buckets; beyond, the hour rollups answer. */
export const MINUTE_BUCKETS_LIMIT = 20_000;
const DEFAULT_PAGE = 1000;
/** Rollup buckets read one by one (exact times of each minimum and maximum) up to this many. */
const GROUP_ABOVE_BUCKETS = 2000;
/** A track is read from raw positions; this caps what one request reads. */
const TRACK_READ_LIMIT = 500_000;

export interface ReadingsServiceOptions {
  db: Kysely<Database>;
  clock: Clock;
  offlineAfterS: number;
  authorizeRead: AuthorizeRead;
  /**
   * Resolves once `vehicle_state` and the rollups hold every committed sample: the SQLite writer thread
   * writes them from memory, up to a second later (features/telemetry/derived-buffer.ts). Absent: always.
   */
  derivedReady?: () => Promise<void>;
}

export class ReadingsService {
  private readonly repo: ReadingsRepo;
  constructor(private readonly options: ReadingsServiceOptions) {
    this.repo = new ReadingsRepo(options.db);
  }

  /** Latest value of every metric, last position and connectivity. */
  async state(actor: Principal, vehicleId: string): Promise<VehicleState> {
    await this.options.authorizeRead(actor, vehicleId);
    return this.stateUnchecked(vehicleId);
  }

  /** The state without a permission check: for the live hub, which checks once per subscription. */
  async stateUnchecked(vehicleId: string): Promise<VehicleState> {
    await this.options.derivedReady?.();
    return this.storedState(vehicleId);
  }

  /** The state as `vehicle_state` holds it now (callers have waited for `derivedReady`). */
  private async storedState(vehicleId: string): Promise<VehicleState> {
    const rows = await this.repo.stateRows(vehicleId);
    return buildState(vehicleId, rows, this.options.clock.now(), this.options.offlineAfterS);
  }

  async samples(
    actor: Principal,
    vehicleId: string,
    query: SamplesQuery,
  ): Promise<DownsampledSamples | SamplesPage> {
    await this.options.authorizeRead(actor, vehicleId);
    if (query.to <= query.from) throw new Invalid('to must be after from');
    const metrics = parseMetrics(query.metrics);
    if (query.maxPoints !== undefined) {
      // Downsampling reads the rollups, and without named metrics the state too: both current from here.
      await this.options.derivedReady?.();
      const wanted = metrics ?? (await this.numericStateMetrics(vehicleId));
      return this.downsampled(vehicleId, query.from, query.to, wanted, query.maxPoints);
    }
    return this.page(vehicleId, query, metrics);
  }

  private async numericStateMetrics(vehicleId: string): Promise<string[]> {
    const state = await this.storedState(vehicleId);
    return Object.entries(state.metrics)
      .filter(([, r]) => typeof r.value === 'number' || typeof r.value === 'boolean')
      .map(([k]) => k)
      .sort();
  }

  /**
   * Picks the finest source that stays cheap: raw samples when the range holds few enough (counted from the
   * hour rollups, not by scanning), else minute rollups, else hour rollups. Up to a few thousand buckets,
   * each contributes its minimum and maximum at the times they happened; beyond, the database merges
   * buckets into about `maxPoints` groups first. LTTB then thins everything to `maxPoints`.
   */
  private async downsampled(
    vehicleId: string,
    from: number,
    to: number,
    metrics: readonly string[],
    maxPoints: number,
  ): Promise<DownsampledSamples> {
    const { db } = this.options;
    let source: DownsampledSamples['source'];
    if ((to - from) / MINUTE_MS > MINUTE_BUCKETS_LIMIT) {
      source = 'hour';
    } else {
      const counts = await Promise.all(metrics.map((m) => countRaw(db, vehicleId, m, from, to)));
      source = Math.max(0, ...counts) <= RAW_POINTS_LIMIT ? 'raw' : 'minute';
    }
    let series: Series[];
    if (source === 'raw') {
      const rows = await this.repo.rawMetrics(vehicleId, from, to);
      const columns = new Map(metrics.map((m) => [m, { t: [] as number[], v: [] as number[] }]));
      for (const row of rows) {
        const values = JSON.parse(row.metrics) as Record<string, MetricValue>;
        for (const [metric, column] of columns) {
          const value = values[metric];
          if (typeof value !== 'number' && typeof value !== 'boolean') continue;
          column.t.push(row.ts_ms);
          column.v.push(typeof value === 'number' ? value : value ? 1 : 0);
        }
      }
      series = metrics.map((metric) => {
        const c = columns.get(metric)!;
        return { metric, ...lttb(c.t, c.v, maxPoints) };
      });
    } else {
      const period: RollupPeriod = source;
      const bucketCount = (to - from) / (period === 'hour' ? HOUR_MS : MINUTE_MS);
      // Past a few thousand buckets, reading each row costs more than the answer is worth: let the
      // database merge them into about maxPoints groups.
      const grouped = bucketCount > Math.max(GROUP_ABOVE_BUCKETS, 2 * maxPoints);
      const groupMs = Math.ceil((to - from) / maxPoints);
      series = await Promise.all(
        metrics.map(async (metric) => {
          if (grouped) {
            const groups = await readRollupGroups(db, period, vehicleId, metric, from, to, groupMs);
            const t: number[] = [];
            const v: number[] = [];
            for (const g of groups) {
              const at = Math.max(from, g.start_ms);
              t.push(at);
              v.push(g.lo);
              if (g.hi !== g.lo) {
                t.push(Math.min(to - 1, at + Math.floor(groupMs / 2)));
                v.push(g.hi);
              }
            }
            return { metric, ...lttb(t, v, maxPoints) };
          }
          const buckets = await readRollups(db, period, vehicleId, metric, from, to);
          const t: number[] = [];
          const v: number[] = [];
          for (const b of buckets) {
            const points =
              b.min_ts_ms === b.max_ts_ms
                ? [[b.min_ts_ms, b.min_value] as const]
                : b.min_ts_ms < b.max_ts_ms
                  ? [[b.min_ts_ms, b.min_value] as const, [b.max_ts_ms, b.max_value] as const]
                  : [[b.max_ts_ms, b.max_value] as const, [b.min_ts_ms, b.min_value] as const];
            for (const [ts, value] of points) {
              if (ts < from || ts >= to) continue;
              t.push(ts);
              v.push(value);
            }
          }
          return { metric, ...lttb(t, v, maxPoints) };
        }),
      );
    }
    return { kind: 'downsampled', from, to, source, series };
  }

  private async page(vehicleId: string, query: SamplesQuery, metrics: string[] | null): Promise<SamplesPage> {
    const limit = query.limit ?? DEFAULT_PAGE;
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const rows = await this.repo.page(vehicleId, query.from, query.to, after, limit);
    const samples: SampleRow[] = [];
    for (const row of rows) {
      const all = JSON.parse(row.metrics) as Record<string, MetricValue>;
      const picked = metrics
        ? Object.fromEntries(metrics.filter((m) => m in all).map((m) => [m, all[m]!]))
        : all;
      if (metrics && Object.keys(picked).length === 0) continue;
      const sample: SampleRow = { ts_ms: row.ts_ms, seq: row.seq, metrics: picked };
      if (row.lat !== null && row.lon !== null) {
        sample.position = { lat: row.lat, lon: row.lon };
        if (row.alt_m !== null) sample.position.alt_m = row.alt_m;
        if (row.heading_deg !== null) sample.position.heading_deg = row.heading_deg;
        if (row.speed_kmh !== null) sample.position.speed_kmh = row.speed_kmh;
        if (row.accuracy_m !== null) sample.position.accuracy_m = row.accuracy_m;
      }
      samples.push(sample);
    }
    const last = rows.at(-1);
    const nextCursor = rows.length === limit && last ? encodeCursor(last.ts_ms, last.seq) : null;
    return { kind: 'page', from: query.from, to: query.to, samples, nextCursor };
  }

  /** The deep scan: every device key with its last value, grouped by object id (numeric order). */
  async raw(actor: Principal, vehicleId: string): Promise<RawScan> {
    await this.options.authorizeRead(actor, vehicleId);
    const rows = await this.repo.rawKeys(vehicleId);
    const groups = new Map<string | null, RawScan['groups'][number]>();
    for (const row of rows) {
      const objectId = rawObjectId(row.device_key);
      let group = groups.get(objectId);
      if (!group) {
        group = { objectId, keys: [] };
        groups.set(objectId, group);
      }
      group.keys.push({
        key: row.device_key,
        value: JSON.parse(row.value) as MetricValue,
        firstSeenMs: row.first_seen_ms,
        lastSeenMs: row.last_seen_ms,
        canonicalKey: row.canonical_key,
        unit: row.unit,
      });
    }
    const sorted = [...groups.values()].sort((a, b) =>
      a.objectId === null ? 1 : b.objectId === null ? -1 : Number(a.objectId) - Number(b.objectId),
    );
    return { vehicleId, groups: sorted };
  }

  /** Positions in the range as a GeoJSON LineString, thinned evenly to `maxPoints` (ends kept). */
  async track(actor: Principal, vehicleId: string, query: TrackQuery): Promise<Track> {
    await this.options.authorizeRead(actor, vehicleId);
    if (query.to <= query.from) throw new Invalid('to must be after from');
    const rows = await this.repo.positions(vehicleId, query.from, query.to);
    if (rows.length > TRACK_READ_LIMIT)
      throw new Invalid('range holds too many positions: narrow it', 'range_too_large');
    const maxPoints = query.maxPoints ?? 5000;
    const picked = rows.length <= maxPoints ? rows : evenly(rows, maxPoints);
    return {
      type: 'Feature',
      geometry: { type: 'LineString', coordinates: picked.map((r) => [r.lon!, r.lat!]) },
      properties: { vehicleId, times_ms: picked.map((r) => r.ts_ms), totalPoints: rows.length },
    };
  }
}

function evenly<T>(rows: readonly T[], count: number): T[] {
  const out: T[] = [];
  const step = (rows.length - 1) / (count - 1);
  for (let i = 0; i < count; i++) out.push(rows[Math.round(i * step)]!);
  return out;
}

function parseMetrics(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const list = [
    ...new Set(
      raw
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    ),
  ];
  if (list.length === 0) return null;
  if (list.length > 50) throw new Invalid('at most 50 metrics at once');
  for (const m of list)
    if (!/^[\w.-]{1,64}$/.test(m)) throw new Invalid(`metrics: "${m}" is not a metric key`);
  return list;
}

function encodeCursor(ts: number, seq: number): string {
  return Buffer.from(`${ts}:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): { ts: number; seq: number } {
  const match = /^(\d+):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new Invalid('cursor is not one this server gave out', 'invalid_cursor');
  return { ts: Number(match[1]), seq: Number(match[2]) };
}
