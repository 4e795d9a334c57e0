import type { MetricValue } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import { samplePages } from '../../db/sample-pages.js';
import { stableId } from '../../lib/crypto.js';
import {
  type Cursor,
  PROCESSOR_SAMPLE_COLUMNS,
  type Processor,
  type ProcessorSample,
  toProcessorSample,
  type Write,
} from '../processing/runner.js';
import {
  type DetectedSession,
  type DetectorSettings,
  type DetectorState,
  defaultDetectorSettings,
  detect,
  initialDetectorState,
  openSession,
  tick,
} from './detector.js';
import { finishStats, foldStats, newAccumulator, type SessionStats, type StatsAccumulator } from './stats.js';

/**
 * The sessions processor: runs the drive and charge detector over each vehicle's committed samples and
 * keeps `sessions` in step, including the drive or charge in progress; keeps an open manual recording's
 * stats up to date. Its output is a function of the samples: a re-run over a window derives the same
 * sessions with the same ids (derived from vehicle, kind and start), so late data corrects them in place.
 */

export const SESSIONS_PROCESSOR = 'sessions';

interface SessionsState {
  detector: DetectorState;
  /** The open manual recording and its running stats. */
  manual: { id: string; acc: StatsAccumulator } | null;
}

type Op = { kind: 'upsert'; session: DetectedSession } | { kind: 'delete' };

/** A session's id: the same for the same vehicle, kind and start, whichever run found it. */
export function autoSessionId(vehicleId: string, kind: string, startMs: number): string {
  return stableId(vehicleId, kind, startMs);
}

export function createSessionsProcessor(overrides: Partial<DetectorSettings> = {}): Processor<SessionsState> {
  const defaults: DetectorSettings = { ...defaultDetectorSettings, ...overrides };
  const settingsOf = (db: Db, vehicleId: string) => vehicleDetectorSettings(db, vehicleId, defaults);
  return {
    name: SESSIONS_PROCESSOR,
    initial: () => ({ detector: initialDetectorState(), manual: null }),

    async rewind(db, vehicleId, fromTsMs) {
      const settings = await settingsOf(db, vehicleId);
      // A sample can join or split any session that ends within the offline limit before it.
      const touched = await db
        .selectFrom('sessions')
        .select((eb) => eb.fn.min('start_ms').as('start'))
        .where('vehicle_id', '=', vehicleId)
        .where('kind', 'in', ['drive', 'charge'])
        .where((eb) =>
          eb.or([eb('end_ms', 'is', null), eb('end_ms', '>=', fromTsMs - settings.offlineAfterS * 1000)]),
        )
        .executeTakeFirst();
      const from = Math.min(fromTsMs, touched?.start == null ? fromTsMs : Number(touched.start));
      const { state, cursor } = await seedBefore(db, vehicleId, from);
      const closedManual = await db
        .selectFrom('sessions')
        .select(['id', 'start_ms', 'end_ms'])
        .where('vehicle_id', '=', vehicleId)
        .where('kind', '=', 'manual')
        .where('end_ms', '>=', fromTsMs)
        .execute();
      const restats = await Promise.all(
        closedManual.map(async (m) => ({
          id: m.id,
          stats: await statsBetween(db, vehicleId, m.start_ms, m.end_ms ?? m.start_ms, 'manual'),
        })),
      );
      const undo: Write = async (trx) => {
        await trx
          .deleteFrom('sessions')
          .where('vehicle_id', '=', vehicleId)
          .where('kind', 'in', ['drive', 'charge'])
          .where('start_ms', '>=', from)
          .execute();
        for (const r of restats) {
          await trx
            .updateTable('sessions')
            .set({ stats: JSON.stringify(r.stats) })
            .where('id', '=', r.id)
            .execute();
        }
      };
      return { state: { detector: state, manual: null }, cursor, undo };
    },

    async fold(db, vehicleId, state, samples, nowMs) {
      const settings = await settingsOf(db, vehicleId);
      const ops = new Map<string, Op>();
      let detector = state.detector;
      const apply = (events: ReturnType<typeof detect>['events']) => {
        for (const e of events) {
          if (e.type === 'discarded')
            ops.set(autoSessionId(vehicleId, e.kind, e.startMs), { kind: 'delete' });
          else
            ops.set(autoSessionId(vehicleId, e.session.kind, e.session.startMs), {
              kind: 'upsert',
              session: e.session,
            });
        }
      };
      for (const sample of samples) {
        const out = detect(detector, sample, settings);
        detector = out.state;
        apply(out.events);
      }
      // Silence ends the open session as shown, but not in the state: data that arrives late (a phone's
      // buffered upload, a backfill in chunks) and falls within the silence carries the same session on,
      // exactly as if it had come in time. Data after the silence ends it in the state too.
      const ticked = tick(structuredClone(detector), nowMs, settings);
      const silent = ticked.events.length > 0;
      if (silent) apply(ticked.events);
      else {
        const open = openSession(detector);
        if (open)
          ops.set(autoSessionId(vehicleId, open.kind, open.startMs), { kind: 'upsert', session: open });
      }

      const manual = await foldManual(db, vehicleId, state.manual, samples);
      const write: Write = async (trx) => {
        for (const [id, op] of ops) {
          if (op.kind === 'delete') await trx.deleteFrom('sessions').where('id', '=', id).execute();
          else await upsertSession(trx, id, vehicleId, op.session, nowMs);
        }
        if (manual) {
          await trx
            .updateTable('sessions')
            .set({
              stats: JSON.stringify(finishStats(structuredClone(manual.acc), 'manual')),
              updated_ms: nowMs,
            })
            .where('id', '=', manual.id)
            .where('end_ms', 'is', null)
            .execute();
        }
      };
      const tickAtMs =
        detector.open && !silent && detector.lastTsMs !== null
          ? detector.lastTsMs + settings.offlineAfterS * 1000
          : null;
      return { state: { detector, manual }, write, tickAtMs };
    },
  };
}

/** The vehicle's own detection settings over the defaults (`PUT /api/v1/vehicles/:id/session-settings`). */
export async function vehicleDetectorSettings(
  db: Db,
  vehicleId: string,
  defaults: DetectorSettings = defaultDetectorSettings,
): Promise<DetectorSettings> {
  const row = await db
    .selectFrom('vehicles')
    .select('session_settings')
    .where('id', '=', vehicleId)
    .executeTakeFirst();
  if (!row?.session_settings) return defaults;
  return { ...defaults, ...(JSON.parse(row.session_settings) as Partial<DetectorSettings>) };
}

async function upsertSession(trx: Db, id: string, vehicleId: string, s: DetectedSession, nowMs: number) {
  const values = { start_ms: s.startMs, end_ms: s.endMs, stats: JSON.stringify(s.stats), updated_ms: nowMs };
  await trx
    .insertInto('sessions')
    .values({ id, vehicle_id: vehicleId, kind: s.kind, name: null, created_ms: nowMs, ...values })
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .execute();
}

/** The open manual recording's running stats, caught up from its start the first time it is seen. */
async function foldManual(
  db: Db,
  vehicleId: string,
  current: SessionsState['manual'],
  samples: readonly ProcessorSample[],
): Promise<SessionsState['manual']> {
  const open = await db
    .selectFrom('sessions')
    .select(['id', 'start_ms'])
    .where('vehicle_id', '=', vehicleId)
    .where('kind', '=', 'manual')
    .where('end_ms', 'is', null)
    .executeTakeFirst();
  if (!open) return null;
  let manual = current?.id === open.id ? current : null;
  if (!manual) {
    // Everything up to the samples of this round, once; from then on one sample at a time.
    const before = samples[0]?.tsMs ?? Number.MAX_SAFE_INTEGER;
    const acc = newAccumulator(open.start_ms);
    for (const s of await samplesBetween(db, vehicleId, open.start_ms, before - 1)) foldStats(acc, s);
    manual = { id: open.id, acc };
  }
  for (const s of samples) if (s.tsMs >= open.start_ms) foldStats(manual.acc, s);
  return manual;
}

/** A fresh detector state as of just before `fromMs`, seeded with what the vehicle last reported. */
async function seedBefore(
  db: Db,
  vehicleId: string,
  fromMs: number,
): Promise<{ state: DetectorState; cursor: Cursor | null }> {
  const state = initialDetectorState();
  const recent = await db
    .selectFrom('samples')
    .select(['ts_ms', 'seq', 'metrics', 'lat', 'lon'])
    .where('vehicle_id', '=', vehicleId)
    .where('ts_ms', '<', fromMs)
    .orderBy('ts_ms', 'desc')
    .orderBy('seq', 'desc')
    .limit(50)
    .execute();
  const last = recent[0];
  if (!last) return { state, cursor: null };
  state.lastTsMs = Number(last.ts_ms);
  for (const row of recent) {
    const metrics = JSON.parse(row.metrics) as Record<string, MetricValue>;
    if (state.lastFix === null && row.lat !== null && row.lon !== null) {
      state.lastFix = { lat: row.lat, lon: row.lon, tsMs: Number(row.ts_ms) };
      state.anchor = { lat: row.lat, lon: row.lon };
    }
    if (state.lastSoc === null && typeof metrics.battery_level_pct === 'number')
      state.lastSoc = metrics.battery_level_pct;
    if (state.lastRange === null && typeof metrics.range_km === 'number') state.lastRange = metrics.range_km;
    if ('gear' in metrics || 'ignition' in metrics) state.reportsGear = true;
  }
  if (!state.reportsGear) {
    const gear = await db
      .selectFrom('vehicle_state')
      .select('metric')
      .where('vehicle_id', '=', vehicleId)
      .where('metric', 'in', ['gear', 'ignition'])
      .executeTakeFirst();
    state.reportsGear = gear !== undefined;
  }
  return { state, cursor: { tsMs: Number(last.ts_ms), seq: Number(last.seq) } };
}

async function samplesBetween(
  db: Db,
  vehicleId: string,
  fromMs: number,
  toMs: number,
): Promise<ProcessorSample[]> {
  const rows = await db
    .selectFrom('samples')
    .select(PROCESSOR_SAMPLE_COLUMNS)
    .where('vehicle_id', '=', vehicleId)
    .where('ts_ms', '>=', fromMs)
    .where('ts_ms', '<=', toMs)
    .orderBy('ts_ms')
    .orderBy('seq')
    .execute();
  return rows.map(toProcessorSample);
}

/** The stats of a vehicle's samples in a time range (a manual recording's, computed afresh). */
export async function statsBetween(
  db: Db,
  vehicleId: string,
  fromMs: number,
  toMs: number,
  kind: 'drive' | 'charge' | 'manual',
): Promise<SessionStats> {
  const acc = newAccumulator(fromMs);
  // A page at a time (keyset, db/sample-pages.ts): a long recording or an imported year is never held whole.
  for await (const page of samplePages(db, vehicleId, fromMs, toMs, STATS_PAGE_ROWS))
    for (const row of page) foldStats(acc, toProcessorSample(row));
  acc.endMs = Math.max(acc.endMs, toMs);
  return finishStats(acc, kind);
}

const STATS_PAGE_ROWS = 5000;
