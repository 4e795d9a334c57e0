import type { Session, SessionKind, SessionStats } from '@tacho/protocol';
import type { Db, SessionsTable } from '../../db/index.js';
import { Invalid } from '../../lib/errors.js';
import { aggregate, HOUR_MS, writeBuckets } from '../telemetry/rollups.js';
import { insertProcessingMarks } from '../telemetry/sample-batch.js';
import type { StateRow } from '../telemetry/telemetry.repo.js';

/** Reading and changing `sessions` (the processor writes its own rows; this is the API's side). */

export function toSession(row: SessionsTable): Session {
  return {
    id: row.id,
    vehicleId: row.vehicle_id,
    kind: row.kind,
    name: row.name,
    startMs: Number(row.start_ms),
    endMs: row.end_ms === null ? null : Number(row.end_ms),
    stats: JSON.parse(row.stats) as SessionStats,
  };
}

export interface ListOptions {
  vehicleIds: readonly string[];
  kind?: SessionKind;
  from?: number;
  to?: number;
  limit: number;
  before?: { startMs: number; id: string };
}

/** Newest first, keyset-paged on (start, id). */
export async function listSessions(db: Db, o: ListOptions): Promise<SessionsTable[]> {
  if (o.vehicleIds.length === 0) return [];
  let q = db.selectFrom('sessions').selectAll().where('vehicle_id', 'in', o.vehicleIds);
  if (o.kind) q = q.where('kind', '=', o.kind);
  if (o.to !== undefined) q = q.where('start_ms', '<=', o.to);
  if (o.from !== undefined) {
    const from = o.from;
    q = q.where((eb) => eb.or([eb('end_ms', 'is', null), eb('end_ms', '>=', from)]));
  }
  if (o.before) {
    const { startMs, id } = o.before;
    q = q.where((eb) =>
      eb.or([eb('start_ms', '<', startMs), eb.and([eb('start_ms', '=', startMs), eb('id', '<', id)])]),
    );
  }
  return q.orderBy('start_ms', 'desc').orderBy('id', 'desc').limit(o.limit).execute();
}

export function encodeBefore(row: { start_ms: number; id: string }): string {
  return `${Number(row.start_ms)}.${row.id}`;
}

export function decodeBefore(value: string): { startMs: number; id: string } {
  const match = /^(\d{1,16})\.([0-9a-f-]{1,64})$/.exec(value);
  if (!match) throw new Invalid('before: not a cursor this server gave out');
  return { startMs: Number(match[1]), id: match[2]! };
}

export async function sessionById(db: Db, id: string): Promise<SessionsTable | undefined> {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function openManual(db: Db, vehicleId: string): Promise<SessionsTable | undefined> {
  return db
    .selectFrom('sessions')
    .selectAll()
    .where('vehicle_id', '=', vehicleId)
    .where('kind', '=', 'manual')
    .where('end_ms', 'is', null)
    .executeTakeFirst();
}

/** Positions of a vehicle between two times, oldest first. */
export async function positionsBetween(db: Db, vehicleId: string, fromMs: number, toMs: number) {
  return db
    .selectFrom('samples')
    .select(['ts_ms', 'lat', 'lon', 'alt_m'])
    .where('vehicle_id', '=', vehicleId)
    .where('ts_ms', '>=', fromMs)
    .where('ts_ms', '<=', toMs)
    .where('lat', 'is not', null)
    .orderBy('ts_ms')
    .orderBy('seq')
    .execute();
}

/**
 * Deletes a session and the vehicle's samples inside it, and recomputes what was derived from them: the
 * rollup buckets of the hours it touched and the newest readings it held. Leaves a mark, so the sessions
 * processor re-runs over the window (and finds nothing there to record again).
 */
export async function deleteSessionAndSamples(
  trx: Db,
  session: { id: string; vehicle_id: string; start_ms: number; end_ms: number },
  processors: readonly string[],
): Promise<number> {
  const { vehicle_id: vehicleId } = session;
  const from = Number(session.start_ms);
  const to = Number(session.end_ms);
  await trx.deleteFrom('sessions').where('id', '=', session.id).execute();
  const deleted = await trx
    .deleteFrom('samples')
    .where('vehicle_id', '=', vehicleId)
    .where('ts_ms', '>=', from)
    .where('ts_ms', '<=', to)
    .executeTakeFirst();
  // Every bucket of the hours touched is rebuilt from the samples that remain in them.
  const hourFrom = Math.floor(from / HOUR_MS) * HOUR_MS;
  const hourTo = Math.floor(to / HOUR_MS) * HOUR_MS + HOUR_MS - 1;
  for (const table of ['rollups_minute', 'rollups_hour'] as const) {
    await trx
      .deleteFrom(table)
      .where('vehicle_id', '=', vehicleId)
      .where('bucket_ms', '>=', hourFrom)
      .where('bucket_ms', '<=', hourTo)
      .execute();
  }
  const remaining = await trx
    .selectFrom('samples')
    .select(['ts_ms', 'metrics'])
    .where('vehicle_id', '=', vehicleId)
    .where('ts_ms', '>=', hourFrom)
    .where('ts_ms', '<=', hourTo)
    .execute();
  await writeBuckets(
    trx,
    aggregate(remaining.map((r) => ({ vehicleId, tsMs: Number(r.ts_ms), metrics: r.metrics }))),
  );
  await restoreNewest(trx, vehicleId, from, to);
  await insertProcessingMarks(trx, new Map([[vehicleId, from]]), processors);
  return Number(deleted.numDeletedRows);
}

/** Newest readings that came from deleted samples fall back to the newest remaining ones. */
async function restoreNewest(trx: Db, vehicleId: string, from: number, to: number): Promise<void> {
  const stale = await trx
    .selectFrom('vehicle_state')
    .select('metric')
    .where('vehicle_id', '=', vehicleId)
    .where('ts_ms', '>=', from)
    .where('ts_ms', '<=', to)
    .execute();
  if (stale.length === 0) return;
  const wanted = new Set(stale.map((r) => r.metric));
  await trx
    .deleteFrom('vehicle_state')
    .where('vehicle_id', '=', vehicleId)
    .where('metric', 'in', [...wanted])
    .execute();
  // Look back through the newest remaining samples for each metric (a bounded scan).
  const recent = await trx
    .selectFrom('samples')
    .select(['ts_ms', 'seq', 'metrics', 'lat', 'lon', 'alt_m', 'heading_deg', 'speed_kmh', 'accuracy_m'])
    .where('vehicle_id', '=', vehicleId)
    .orderBy('ts_ms', 'desc')
    .orderBy('seq', 'desc')
    .limit(20_000)
    .execute();
  const found: StateRow[] = [];
  for (const r of recent) {
    if (wanted.size === 0) break;
    const metrics = JSON.parse(r.metrics) as Record<string, unknown>;
    for (const metric of [...wanted]) {
      if (metric in metrics) {
        found.push({
          vehicle_id: vehicleId,
          metric,
          value: JSON.stringify(metrics[metric]),
          ts_ms: Number(r.ts_ms),
          seq: Number(r.seq),
        });
        wanted.delete(metric);
      }
    }
    if (wanted.has('position') && r.lat !== null && r.lon !== null) {
      const position: Record<string, number> = { lat: r.lat, lon: r.lon };
      for (const key of ['alt_m', 'heading_deg', 'speed_kmh', 'accuracy_m'] as const) {
        const v = r[key];
        if (v !== null) position[key] = v;
      }
      found.push({
        vehicle_id: vehicleId,
        metric: 'position',
        value: JSON.stringify(position),
        ts_ms: Number(r.ts_ms),
        seq: Number(r.seq),
      });
      wanted.delete('position');
    }
  }
  if (found.length > 0) await trx.insertInto('vehicle_state').values(found).execute();
}
