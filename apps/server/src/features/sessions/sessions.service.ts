import type {
  ProcessingStatus,
  SamplesResponse,
  Session,
  SessionPage,
  SessionSamplesQuery,
  SessionSettingsUpdate,
  SessionSettingsView,
  SessionsQuery,
  SessionTrack,
  StartRecording,
} from '@tacho/protocol';
import simplify from 'simplify-js';
import { type Db, inTransaction } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import { Conflict, Invalid, NotFound } from '../../lib/errors.js';
import type { Audit } from '../auth/audit.js';
import { requireAdmin } from '../auth/index.js';
import type { Principal } from '../auth/principal.js';
import type { ReadingsService } from '../readings/index.js';
import { insertProcessingMarks } from '../telemetry/sample-batch.js';
import type { Vehicles } from '../vehicles/index.js';
import { defaultDetectorSettings } from './detector.js';
import { autoSessionId, statsBetween, vehicleDetectorSettings } from './sessions.processor.js';
import {
  decodeBefore,
  deleteSessionAndSamples,
  encodeBefore,
  listSessions,
  openManual,
  positionsBetween,
  sessionById,
  toSession,
} from './sessions.repo.js';

const DEFAULT_LIMIT = 50;
const DEFAULT_TRACK_POINTS = 1000;

/** Sessions as people use them: list, read, record by hand, delete. Every call checks the vehicle. */
export class SessionsService {
  constructor(
    private readonly deps: {
      db: Db;
      clock: Clock;
      vehicles: Vehicles;
      readings: ReadingsService;
      audit: Audit;
      /** Processors whose marks a deletion leaves (so they re-run over the window). */
      processors: readonly string[];
      /** Looks for new work at once (a hint; the marks are what counts). */
      poke: () => void;
    },
  ) {}

  async listForVehicle(actor: Principal, vehicleId: string, query: SessionsQuery): Promise<SessionPage> {
    await this.deps.vehicles.authorize(actor, 'read', vehicleId);
    return this.page([vehicleId], query);
  }

  async listAll(actor: Principal, query: SessionsQuery): Promise<SessionPage> {
    // Those it may read, in one query however many it sees.
    const visible = await this.deps.vehicles.list(actor);
    const readable = await this.deps.vehicles.readableAmong(
      actor,
      visible.map((v) => v.id),
    );
    return this.page(
      visible.filter((v) => readable.has(v.id)).map((v) => v.id),
      query,
    );
  }

  private async page(vehicleIds: string[], query: SessionsQuery): Promise<SessionPage> {
    if (query.from !== undefined && query.to !== undefined && query.from > query.to)
      throw new Invalid('from: must not be after to');
    const limit = query.limit ?? DEFAULT_LIMIT;
    const rows = await listSessions(this.deps.db, {
      vehicleIds,
      limit: limit + 1,
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.from !== undefined ? { from: query.from } : {}),
      ...(query.to !== undefined ? { to: query.to } : {}),
      ...(query.before ? { before: decodeBefore(query.before) } : {}),
    });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map(toSession),
      nextBefore: rows.length > limit && last ? encodeBefore(last) : null,
    };
  }

  async get(actor: Principal, id: string): Promise<Session> {
    return toSession(await this.readable(actor, id));
  }

  async track(actor: Principal, id: string, maxPoints = DEFAULT_TRACK_POINTS): Promise<SessionTrack> {
    const row = await this.readable(actor, id);
    const end = row.end_ms === null ? this.deps.clock.now() : Number(row.end_ms);
    const positions = await positionsBetween(this.deps.db, row.vehicle_id, Number(row.start_ms), end);
    const points = positions.map((p, i) => ({ x: p.lon!, y: p.lat!, i }));
    const kept = simplifyTo(points, maxPoints);
    return {
      type: 'Feature',
      geometry: {
        type: 'LineString',
        coordinates: kept.map((p) => {
          const alt = positions[p.i]!.alt_m;
          return alt === null ? [p.x, p.y] : [p.x, p.y, alt];
        }),
      },
      properties: { sessionId: row.id, vehicleId: row.vehicle_id, totalPoints: positions.length },
    };
  }

  async samples(actor: Principal, id: string, query: SessionSamplesQuery): Promise<SamplesResponse> {
    const row = await this.readable(actor, id);
    const to = row.end_ms === null ? this.deps.clock.now() : Number(row.end_ms);
    return this.deps.readings.samples(actor, row.vehicle_id, {
      from: Number(row.start_ms),
      to: Math.max(to, Number(row.start_ms)),
      maxPoints: Math.max(3, query.maxPoints ?? DEFAULT_TRACK_POINTS),
      ...(query.metrics ? { metrics: query.metrics } : {}),
    });
  }

  /** Starts a manual recording: 409 while one is open. */
  async start(actor: Principal, vehicleId: string, body: StartRecording): Promise<Session> {
    await this.deps.vehicles.authorize(actor, 'manage', vehicleId);
    const now = this.deps.clock.now();
    const id = newId();
    await inTransaction(this.deps.db, async (trx) => {
      if (await openManual(trx, vehicleId))
        throw new Conflict('a recording is already running for this vehicle');
      const stats = await statsBetween(trx, vehicleId, now, now, 'manual');
      await trx
        .insertInto('sessions')
        .values({
          id,
          vehicle_id: vehicleId,
          kind: 'manual',
          name: body.name ?? null,
          start_ms: now,
          end_ms: null,
          stats: JSON.stringify(stats),
          created_ms: now,
          updated_ms: now,
        })
        .execute();
    });
    this.deps.audit.log('session.recording_started', { userId: actor.userId, vehicleId, sessionId: id });
    return this.get(actor, id);
  }

  /** Stops a manual recording: its stats from the samples inside it. 409 unless it is an open recording. */
  async stop(actor: Principal, id: string): Promise<Session> {
    const row = await this.readable(actor, id);
    await this.deps.vehicles.authorize(actor, 'manage', row.vehicle_id);
    if (row.kind !== 'manual' || row.end_ms !== null)
      throw new Conflict('this session is not a running recording');
    const now = Math.max(this.deps.clock.now(), Number(row.start_ms));
    const stats = await statsBetween(this.deps.db, row.vehicle_id, Number(row.start_ms), now, 'manual');
    const updated = await this.deps.db
      .updateTable('sessions')
      .set({ end_ms: now, stats: JSON.stringify(stats), updated_ms: now })
      .where('id', '=', id)
      .where('end_ms', 'is', null)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) throw new Conflict('this session is not a running recording');
    this.deps.audit.log('session.recording_stopped', { userId: actor.userId, sessionId: id });
    return this.get(actor, id);
  }

  /**
   * Records imported tracks as finished manual recordings (who manages the vehicle), as `stop` finishes a
   * recording: the stats come from the samples inside, which the import has committed by now; later
   * samples inside one re-run its stats on the after-commit path like any closed recording's. A session's
   * id comes from its vehicle and span, so importing the same file again creates nothing twice. Returns
   * the ids of the sessions created.
   */
  async recordImported(
    actor: Principal,
    vehicleId: string,
    tracks: ReadonlyArray<{ name: string; startMs: number; endMs: number }>,
  ): Promise<string[]> {
    await this.deps.vehicles.authorize(actor, 'manage', vehicleId);
    const created: string[] = [];
    const now = this.deps.clock.now();
    for (const track of tracks) {
      const id = importedSessionId(vehicleId, track.startMs, track.endMs);
      const inserted = await inTransaction(this.deps.db, async (trx) => {
        const stats = await statsBetween(trx, vehicleId, track.startMs, track.endMs, 'manual');
        const result = await trx
          .insertInto('sessions')
          .values({
            id,
            vehicle_id: vehicleId,
            kind: 'manual',
            name: track.name.slice(0, 200),
            start_ms: track.startMs,
            end_ms: track.endMs,
            stats: JSON.stringify(stats),
            created_ms: now,
            updated_ms: now,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .executeTakeFirst();
        return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
      });
      if (inserted) created.push(id);
    }
    return created;
  }

  /** Deletes a session and the samples inside it (who manages the vehicle). */
  async delete(actor: Principal, id: string): Promise<void> {
    const row = await this.readable(actor, id);
    await this.deps.vehicles.authorize(actor, 'manage', row.vehicle_id);
    const end = row.end_ms === null ? null : Number(row.end_ms);
    if (end === null) throw new Conflict('this session is still open: stop it (or wait for it to end) first');
    const samples = await inTransaction(this.deps.db, (trx) =>
      deleteSessionAndSamples(trx, { ...row, end_ms: end }, this.deps.processors),
    );
    this.deps.audit.log('session.deleted', {
      userId: actor.userId,
      vehicleId: row.vehicle_id,
      sessionId: id,
      kind: row.kind,
      startMs: Number(row.start_ms),
      endMs: end,
      samples,
    });
    this.deps.poke();
  }

  /** The vehicle's drive and charge detection settings, and the defaults. */
  async settings(actor: Principal, vehicleId: string): Promise<SessionSettingsView> {
    await this.deps.vehicles.authorize(actor, 'read', vehicleId);
    return {
      settings: await vehicleDetectorSettings(this.deps.db, vehicleId),
      defaults: { ...defaultDetectorSettings },
    };
  }

  /**
   * Sets the vehicle's own detection settings (who manages it) and has its sessions derived again from
   * its samples with them: a mark from the beginning of time makes the processor rewind to the start.
   */
  async setSettings(
    actor: Principal,
    vehicleId: string,
    body: SessionSettingsUpdate,
  ): Promise<SessionSettingsView> {
    await this.deps.vehicles.authorize(actor, 'manage', vehicleId);
    const now = this.deps.clock.now();
    const own = Object.keys(body).length > 0 ? JSON.stringify(body) : null;
    await inTransaction(this.deps.db, async (trx) => {
      await trx
        .updateTable('vehicles')
        .set({ session_settings: own, updated_ms: now })
        .where('id', '=', vehicleId)
        .execute();
      await insertProcessingMarks(trx, new Map([[vehicleId, 0]]), this.deps.processors);
    });
    this.deps.audit.log('session.settings_changed', { userId: actor.userId, vehicleId, settings: body });
    this.deps.poke();
    return this.settings(actor, vehicleId);
  }

  /** How far processing is behind, and the vehicles it is failing on (admins). */
  async processingStatus(actor: Principal): Promise<ProcessingStatus> {
    requireAdmin(actor);
    const marks = await this.deps.db
      .selectFrom('processing_marks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    const pending = await this.deps.db
      .selectFrom('processing_state')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pending', '=', 1)
      .executeTakeFirst();
    const failures = await this.deps.db
      .selectFrom('processing_state')
      .select(['processor', 'vehicle_id', 'failed_reason', 'failed_ms', 'attempts', 'retry_at_ms'])
      .where('failed_reason', 'is not', null)
      .orderBy('failed_ms', 'desc')
      .limit(500)
      .execute();
    return {
      backlog: Number(marks?.n ?? 0) + Number(pending?.n ?? 0),
      failures: failures.map((f) => ({
        processor: f.processor,
        vehicleId: f.vehicle_id,
        reason: f.failed_reason ?? '',
        failedMs: Number(f.failed_ms),
        attempts: f.attempts,
        retryAtMs: f.retry_at_ms === null ? null : Number(f.retry_at_ms),
      })),
    };
  }

  /** The session, if the actor may read its vehicle; 404 for unknown ids and vehicles one may not see. */
  private async readable(actor: Principal, id: string) {
    const row = await sessionById(this.deps.db, id);
    if (!row) throw new NotFound('no such session');
    try {
      await this.deps.vehicles.authorize(actor, 'read', row.vehicle_id);
    } catch (error) {
      if (error instanceof NotFound) throw new NotFound('no such session');
      throw error;
    }
    return row;
  }
}

/** An imported track's session id: the same for the same vehicle and span, whichever import made it. */
export function importedSessionId(vehicleId: string, startMs: number, endMs: number): string {
  return autoSessionId(vehicleId, `import:${endMs}`, startMs);
}

/**
 * Douglas–Peucker (simplify-js, after its radial-distance pass) down to at most `maxPoints`: the smallest
 * tolerance that fits, found by bisection on a log scale (tolerances in degrees, from 1 mm to the track's
 * extent), 16 steps.
 */
function simplifyTo<P extends { x: number; y: number }>(points: P[], maxPoints: number): P[] {
  if (points.length <= maxPoints) return points;
  let minX = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
  }
  let lo = Math.log(1e-8);
  let hi = Math.log(Math.max(1e-7, maxX - minX, maxY - minY));
  let best = simplify(points, Math.exp(hi)) as P[];
  for (let i = 0; i < 16; i++) {
    const mid = (lo + hi) / 2;
    const out = simplify(points, Math.exp(mid)) as P[];
    if (out.length <= maxPoints) {
      best = out;
      hi = mid;
    } else lo = mid;
  }
  // The ends always stay; a track that still has too many points (identical fixes) is cut evenly.
  if (best.length > maxPoints) {
    const step = (best.length - 1) / (maxPoints - 1);
    best = Array.from({ length: maxPoints }, (_, i) => best[Math.round(i * step)]!);
  }
  return best;
}
