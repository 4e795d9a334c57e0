import {
  type AlertChannel,
  type AlertCondition,
  type AlertEventSpec,
  type MetricValue,
  metricCatalog,
} from '@tacho/protocol';
import { sql } from 'kysely';
import type { AlertDeliveriesTable, AlertsTable, Db } from '../../db/index.js';
import { stableId } from '../../lib/crypto.js';
import type { Cursor, Processor, ProcessorSample } from '../processing/runner.js';
import {
  type DetectorEvent,
  type DetectorSettings,
  type DetectorState,
  defaultDetectorSettings,
  detect,
  tick as detectorTick,
  initialDetectorState,
} from '../sessions/detector.js';
import { vehicleDetectorSettings } from '../sessions/sessions.processor.js';
import {
  conditionOf,
  DTC_RAW_KEY,
  type Effect,
  evaluate,
  type Input,
  initialRuleState,
  nextTick,
  type RuleSpec,
  type RuleState,
  type SessionEventType,
} from './evaluator.js';

export const ALERTS_PROCESSOR = 'alerts';

/** A rule as the processor evaluates it, with where its notifications go. */
export interface LoadedRule extends RuleSpec {
  readonly id: string;
  readonly name: string;
  readonly ownerEmail: string;
  readonly channels: readonly AlertChannel[];
}

interface AlertsState {
  /** Per rule: the evaluator's state and the alert open per episode key. */
  rules: Record<string, { rule: RuleState; open: Record<string, string> }>;
  /** The drive and charge detector, while a rule watches drive or charge events. */
  detector: DetectorState | null;
  /** The device time of the trouble-code report last read (`raw_keys`). */
  dtcSeenMs: number | null;
}

const SESSION_EVENTS: ReadonlySet<string> = new Set([
  'drive_started',
  'drive_ended',
  'charge_started',
  'charge_completed',
]);
/** The trouble codes reach `raw_keys` with the writer's derived rows: look again this much later. */
const DTC_RECHECK_MS = 2000;

/**
 * The alerts processor: evaluates every enabled rule that applies to a vehicle over its committed samples
 * (and the drive and charge events the detector finds in them), and commits the alerts that fire or
 * resolve together with their notifications (the outbox, `alert_deliveries`) and its own progress.
 * Its first round on a vehicle starts at the samples that woke it, not at the vehicle's history, and late
 * data passes (what it says is already past).
 */
export function createAlertsProcessor(overrides: Partial<DetectorSettings> = {}): Processor<AlertsState> {
  const detectorDefaults: DetectorSettings = { ...defaultDetectorSettings, ...overrides };
  return {
    name: ALERTS_PROCESSOR,
    initial: () => ({ rules: {}, detector: null, dtcSeenMs: null }),

    async idle(db, vehicleId) {
      return (await rulesFor(db, vehicleId)).length === 0;
    },

    async start(db, vehicleId, lowTsMs): Promise<Cursor | null> {
      if (lowTsMs !== null) return { tsMs: lowTsMs, seq: -1 };
      // Woken by a new rule: the newest reading is where it starts (a battery already low fires now).
      const newest = await db
        .selectFrom('samples')
        .select(['ts_ms', 'seq'])
        .where('vehicle_id', '=', vehicleId)
        .orderBy('ts_ms', 'desc')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      return newest ? { tsMs: Number(newest.ts_ms), seq: Number(newest.seq) - 1 } : null;
    },

    async fold(db, vehicleId, state, samples, nowMs) {
      const rules = await rulesFor(db, vehicleId);
      const kept: AlertsState['rules'] = {};
      for (const rule of rules)
        kept[rule.id] = state.rules[rule.id] ?? { rule: initialRuleState(), open: {} };
      state.rules = kept;
      const watchesSessions = rules.some((r) => r.event && SESSION_EVENTS.has(r.event.type));
      const dtcRules = rules.filter((r) => r.event?.type === 'dtc_appeared');
      const plain = rules.filter((r) => r.event?.type !== 'dtc_appeared');
      if (!watchesSessions) state.detector = null;
      const settings = watchesSessions
        ? await vehicleDetectorSettings(db, vehicleId, detectorDefaults)
        : null;
      if (settings && !state.detector) state.detector = initialDetectorState();

      const fired: Array<{ rule: LoadedRule; effect: Effect }> = [];
      const feed = (targets: readonly LoadedRule[], input: Input) => {
        for (const rule of targets) {
          for (const effect of evaluate(rule, state.rules[rule.id]!.rule, input))
            fired.push({ rule, effect });
        }
      };
      const sessionEvents = (events: readonly DetectorEvent[]) => {
        for (const e of events) {
          if (e.type === 'discarded') continue;
          const type = sessionEventType(e);
          const tsMs = e.type === 'started' ? e.session.startMs : (e.session.endMs ?? e.session.startMs);
          feed(plain, { kind: 'session', type, tsMs });
        }
      };
      for (const sample of samples) {
        feed(plain, sampleInput(sample));
        if (state.detector && settings) sessionEvents(detect(state.detector, sample, settings).events);
      }
      if (dtcRules.length > 0) {
        const report = await db
          .selectFrom('raw_keys')
          .select(['value', 'last_seen_ms'])
          .where('vehicle_id', '=', vehicleId)
          .where('device_key', '=', DTC_RAW_KEY)
          .executeTakeFirst();
        const seen = report ? Number(report.last_seen_ms) : null;
        if (report && seen !== null && (state.dtcSeenMs === null || seen > state.dtcSeenMs)) {
          state.dtcSeenMs = seen;
          const codes = JSON.parse(report.value) as unknown;
          feed(dtcRules, { kind: 'sample', tsMs: seen, metrics: {}, raw: { [DTC_RAW_KEY]: codes } });
        }
      }
      feed(plain, { kind: 'tick', nowMs });
      if (state.detector && settings) sessionEvents(detectorTick(state.detector, nowMs, settings).events);

      let tickAtMs: number | null = null;
      const want = (at: number | null) => {
        if (at !== null && (tickAtMs === null || at < tickAtMs)) tickAtMs = at;
      };
      for (const rule of plain) want(nextTick(rule, state.rules[rule.id]!.rule));
      if (state.detector?.open && state.detector.lastTsMs !== null && settings)
        want(state.detector.lastTsMs + settings.offlineAfterS * 1000);
      if (dtcRules.length > 0 && samples.length > 0) want(nowMs + DTC_RECHECK_MS);

      const alerts: AlertsTable[] = [];
      const resolved: Array<{ id: string; atMs: number }> = [];
      const deliveries: AlertDeliveriesTable[] = [];
      for (const { rule, effect } of fired) {
        const entry = state.rules[rule.id]!;
        if (effect.type === 'fire') {
          const id = stableId('alert', rule.id, vehicleId, effect.key, effect.atMs);
          alerts.push({
            id,
            rule_id: rule.id,
            rule_name: rule.name,
            vehicle_id: vehicleId,
            state: effect.instant ? 'resolved' : 'open',
            fired_ms: effect.atMs,
            message: describe(rule, effect),
            value: JSON.stringify(effect.value ?? null),
            acknowledged_ms: null,
            acknowledged_by: null,
            resolved_ms: effect.instant ? effect.atMs : null,
            created_ms: nowMs,
          });
          if (!effect.instant) entry.open[effect.key] = id;
          deliveries.push(...deliveriesFor(rule, id, vehicleId, 'fired', nowMs));
        } else {
          const id = entry.open[effect.key];
          if (!id) continue;
          delete entry.open[effect.key];
          resolved.push({ id, atMs: effect.atMs });
          deliveries.push(delivery(id, vehicleId, 'inapp', 'live', 'resolved', nowMs, false));
        }
      }
      return {
        state,
        tickAtMs,
        async write(trx: Db) {
          for (let i = 0; i < alerts.length; i += 200)
            await trx
              .insertInto('alerts')
              .values(alerts.slice(i, i + 200))
              .onConflict((oc) => oc.column('id').doNothing())
              .execute();
          for (const r of resolved)
            await trx
              .updateTable('alerts')
              .set({ state: 'resolved', resolved_ms: r.atMs })
              .where('id', '=', r.id)
              .where('state', '!=', 'resolved')
              .execute();
          for (let i = 0; i < deliveries.length; i += 200)
            await trx
              .insertInto('alert_deliveries')
              .values(deliveries.slice(i, i + 200))
              .onConflict((oc) => oc.column('id').doNothing())
              .execute();
        },
      };
    },
  };
}

function sessionEventType(e: Exclude<DetectorEvent, { type: 'discarded' }>): SessionEventType {
  if (e.session.kind === 'drive') return e.type === 'started' ? 'drive_started' : 'drive_ended';
  return e.type === 'started' ? 'charge_started' : 'charge_completed';
}

function sampleInput(sample: ProcessorSample): Input {
  return sample.position
    ? { kind: 'sample', tsMs: sample.tsMs, metrics: sample.metrics, position: sample.position }
    : { kind: 'sample', tsMs: sample.tsMs, metrics: sample.metrics };
}

/** The notifications of one firing: the live socket, then each of the rule's channels. */
function deliveriesFor(
  rule: LoadedRule,
  alertId: string,
  vehicleId: string,
  kind: 'fired',
  nowMs: number,
): AlertDeliveriesTable[] {
  const out = [delivery(alertId, vehicleId, 'inapp', 'live', kind, nowMs, false)];
  for (const channel of rule.channels) {
    if (channel.type === 'email')
      out.push(delivery(alertId, vehicleId, 'email', channel.to ?? rule.ownerEmail, kind, nowMs, false));
    else if (channel.type === 'webhook')
      out.push(
        delivery(alertId, vehicleId, 'webhook', channel.url, kind, nowMs, channel.allowPrivate === true),
      );
  }
  return out;
}

function delivery(
  alertId: string,
  vehicleId: string,
  channel: AlertDeliveriesTable['channel'],
  target: string,
  kind: AlertDeliveriesTable['kind'],
  nowMs: number,
  allowPrivate: boolean,
): AlertDeliveriesTable {
  return {
    id: stableId('delivery', alertId, channel, target, kind),
    alert_id: alertId,
    vehicle_id: vehicleId,
    channel,
    target,
    kind,
    status: 'pending',
    attempts: 0,
    next_at_ms: nowMs,
    lease_until_ms: null,
    created_ms: nowMs,
    sent_ms: null,
    allow_private: allowPrivate ? 1 : 0,
  };
}

/** "Battery level 18 % < 20 %", "Offline for 10 min", "Trouble code P0300". */
export function describe(rule: RuleSpec, effect: Extract<Effect, { type: 'fire' }>): string {
  const condition = conditionOf(rule);
  if (condition)
    return `${label(condition.metric)} ${show(condition.metric, effect.value as MetricValue)} ${condition.op} ${show(condition.metric, condition.value)}`;
  const event = rule.event as AlertEventSpec;
  switch (event.type) {
    case 'offline':
      return `No data for ${Math.round((event.forS ?? 0) / 60)} min`;
    case 'dtc_appeared':
      return `Trouble code ${(effect.value as { code: string }).code}`;
    case 'geofence_enter':
      return 'Entered the geofence';
    case 'geofence_exit':
      return 'Left the geofence';
    default:
      return event.type.replace('_', ' ').replace(/^./, (c) => c.toUpperCase());
  }
}

function label(metric: string): string {
  return metricCatalog.get(metric)?.label ?? metric;
}

/**
 * A value with the catalog's unit, always named (emails and webhooks are in the canonical units; the
 * dashboard rewrites them in the reader's). Rounded to 2 decimals: a threshold typed as 70 °F is stored
 * as 21.111… °C, which a message should not spell out.
 */
function show(metric: string, value: MetricValue | AlertCondition['value']): string {
  const unit = metricCatalog.get(metric)?.unit;
  const text = typeof value === 'number' ? String(Math.round(value * 100) / 100) : String(value);
  return unit ? `${text} ${unit}` : text;
}

/**
 * The enabled rules that apply to the vehicle: its own and those for every vehicle, while their owner
 * manages it (owns it, has it shared as operator, or is an admin). A disabled owner's rules rest.
 */
export async function rulesFor(db: Db, vehicleId: string): Promise<LoadedRule[]> {
  const rows = await db
    .selectFrom('alert_rules as r')
    .innerJoin('users as u', 'u.id', 'r.owner_id')
    .select(['r.id', 'r.name', 'r.condition', 'r.event', 'r.cooldown_s', 'r.channels', 'u.email'])
    .where('r.enabled', '=', 1)
    .where('u.disabled_ms', 'is', null)
    .where((eb) => eb.or([eb('r.vehicle_id', '=', vehicleId), eb('r.vehicle_id', 'is', null)]))
    .where('u.role', '!=', 'viewer')
    .where((eb) =>
      eb.or([
        eb('u.role', '=', 'admin'),
        eb.exists(
          eb
            .selectFrom('vehicles as v')
            .select(sql`1`.as('one'))
            .where('v.id', '=', vehicleId)
            .whereRef('v.owner_id', '=', 'r.owner_id'),
        ),
        eb.exists(
          eb
            .selectFrom('vehicle_access as a')
            .select(sql`1`.as('one'))
            .where('a.vehicle_id', '=', vehicleId)
            .whereRef('a.user_id', '=', 'r.owner_id')
            .where('a.role', '=', 'operator'),
        ),
      ]),
    )
    .orderBy('r.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    ownerEmail: r.email,
    condition: r.condition ? (JSON.parse(r.condition) as AlertCondition) : null,
    event: r.event ? (JSON.parse(r.event) as AlertEventSpec) : null,
    cooldownS: Number(r.cooldown_s),
    channels: JSON.parse(r.channels) as AlertChannel[],
  }));
}
