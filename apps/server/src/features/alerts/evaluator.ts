import type { AlertCondition, AlertEventSpec, AlertOp, MetricValue } from '@tacho/protocol';
import { haversineKm } from '../sessions/stats.js';

/**
 * Alert evaluation: a pure state machine per (rule, vehicle), (state, input) → (state, effects), fed one
 * vehicle's committed samples in device-time order, the session events the drive/charge detector finds in
 * them, and ticks of the clock. Its state is plain JSON, kept by the alerts processor with its progress,
 * so a rule fires exactly once per episode across crashes, restarts and instances (decision 0017).
 *
 * - A condition fires when it holds (for `forS` when given: it must still hold at a reading, or at a
 *   tick, that long after it began; a reading where it does not hold starts over), and resolves once the
 *   value is back beyond the threshold by `hysteresis`.
 * - `cooldownS`: an episode that begins within it of the last firing neither fires nor notifies; it
 *   stays quiet until it clears.
 * - Readings older than the newest one seen (late data) change nothing: what they say is already past.
 * - `offline` fires `forS` after the last reading, at a tick, and resolves at the next reading.
 * - `dtc_appeared` fires once per new trouble code and resolves when the code is gone; drive, charge and
 *   geofence events are instants: they fire and resolve at once.
 */

export interface RuleSpec {
  readonly condition: AlertCondition | null;
  readonly event: AlertEventSpec | null;
  readonly cooldownS: number;
}

export interface RuleState {
  phase: 'idle' | 'pending' | 'firing' | 'quiet';
  /** When the condition began to hold (pending). */
  sinceMs: number | null;
  /** The last value of the watched metric. */
  last: MetricValue | null;
  /** The newest reading seen (device time). */
  lastTsMs: number | null;
  /** The last firing (cooldown), per episode key for trouble codes. */
  firedMs: number | null;
  /** Geofences: inside the circle at the last fix (null before the first). */
  inside: boolean | null;
  /** Trouble codes present at the last report. */
  dtcs: string[];
}

export type SessionEventType = 'drive_started' | 'drive_ended' | 'charge_started' | 'charge_completed';

export type Input =
  | {
      readonly kind: 'sample';
      readonly tsMs: number;
      readonly metrics: Readonly<Record<string, MetricValue>>;
      readonly position?: { readonly lat: number; readonly lon: number };
      readonly raw?: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'session'; readonly type: SessionEventType; readonly tsMs: number }
  | { readonly kind: 'tick'; readonly nowMs: number };

export type Effect =
  /** An alert opens (`instant`: it is resolved at once). `key` tells episodes of one rule apart. */
  | {
      readonly type: 'fire';
      readonly key: string;
      readonly atMs: number;
      readonly value: unknown;
      readonly instant: boolean;
    }
  | { readonly type: 'resolve'; readonly key: string; readonly atMs: number; readonly value: unknown };

/** The raw key the OBD-II decoder keeps trouble codes under (comma-separated, '' when none). */
export const DTC_RAW_KEY = 'obd.dtc';
/** `low_12v` without a threshold. */
export const DEFAULT_LOW_12V_V = 11.8;
const LOW_12V_HYSTERESIS_V = 0.2;

export function initialRuleState(): RuleState {
  return { phase: 'idle', sinceMs: null, last: null, lastTsMs: null, firedMs: null, inside: null, dtcs: [] };
}

/** The condition a rule watches: its own, or the one an event stands for (`low_12v`). */
export function conditionOf(rule: RuleSpec): AlertCondition | null {
  if (rule.condition) return rule.condition;
  if (rule.event?.type === 'low_12v') {
    return {
      metric: 'battery_12v_v',
      op: '<',
      value: rule.event.thresholdV ?? DEFAULT_LOW_12V_V,
      hysteresis: LOW_12V_HYSTERESIS_V,
      ...(rule.event.forS ? { forS: rule.event.forS } : {}),
    };
  }
  return null;
}

/** Feeds one input to one rule's state (mutated and returned). */
export function evaluate(rule: RuleSpec, state: RuleState, input: Input): Effect[] {
  const effects: Effect[] = [];
  const condition = conditionOf(rule);
  if (input.kind === 'sample') {
    if (state.lastTsMs !== null && input.tsMs < state.lastTsMs) return effects;
    const previousTs = state.lastTsMs;
    state.lastTsMs = input.tsMs;
    if (condition) onReading(rule, condition, state, input, effects);
    else if (rule.event?.type === 'offline') {
      if (state.phase === 'firing')
        effects.push({ type: 'resolve', key: '', atMs: input.tsMs, value: { lastSeenMs: previousTs } });
      state.phase = 'idle';
    } else if (rule.event?.type === 'dtc_appeared') onTroubleCodes(rule, state, input, effects);
    else if (
      (rule.event?.type === 'geofence_enter' || rule.event?.type === 'geofence_exit') &&
      input.position
    )
      onFix(rule, state, input.tsMs, input.position, effects);
  } else if (input.kind === 'session') {
    if (rule.event?.type === input.type) instant(rule, state, input.tsMs, { event: input.type }, effects);
  } else {
    if (condition && state.phase === 'pending' && state.sinceMs !== null) {
      const due = state.sinceMs + (condition.forS ?? 0) * 1000;
      if (input.nowMs >= due) fire(rule, state, '', due, state.last, effects);
    } else if (rule.event?.type === 'offline' && state.phase === 'idle' && state.lastTsMs !== null) {
      const due = state.lastTsMs + (rule.event.forS ?? 0) * 1000;
      if (input.nowMs >= due) fire(rule, state, '', due, { lastSeenMs: state.lastTsMs }, effects);
    }
  }
  return effects;
}

/** When the rule next wants a tick without new data (null: only on new data). */
export function nextTick(rule: RuleSpec, state: RuleState): number | null {
  const condition = conditionOf(rule);
  if (condition && state.phase === 'pending' && state.sinceMs !== null)
    return state.sinceMs + (condition.forS ?? 0) * 1000;
  if (rule.event?.type === 'offline' && state.phase === 'idle' && state.lastTsMs !== null)
    return state.lastTsMs + (rule.event.forS ?? 0) * 1000;
  return null;
}

/** Whether `value op threshold` holds; false when the types do not compare. */
export function holds(op: AlertOp, value: MetricValue, threshold: number | string | boolean): boolean {
  if (op === '==') return value === threshold;
  if (op === '!=') return value !== threshold;
  if (typeof value !== 'number' || typeof threshold !== 'number' || !Number.isFinite(value)) return false;
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    default:
      return value >= threshold;
  }
}

function onReading(
  rule: RuleSpec,
  condition: AlertCondition,
  state: RuleState,
  input: Extract<Input, { kind: 'sample' }>,
  effects: Effect[],
): void {
  if (!(condition.metric in input.metrics)) return;
  const value = input.metrics[condition.metric]!;
  state.last = value;
  const now = holds(condition.op, value, condition.value);
  switch (state.phase) {
    case 'idle':
      if (!now) return;
      if (condition.forS) {
        state.phase = 'pending';
        state.sinceMs = input.tsMs;
      } else fire(rule, state, '', input.tsMs, value, effects);
      return;
    case 'pending':
      if (!now) {
        state.phase = 'idle';
        state.sinceMs = null;
      } else if (input.tsMs - state.sinceMs! >= (condition.forS ?? 0) * 1000)
        fire(rule, state, '', input.tsMs, value, effects);
      return;
    default:
      if (!cleared(condition, value)) return;
      if (state.phase === 'firing') effects.push({ type: 'resolve', key: '', atMs: input.tsMs, value });
      state.phase = 'idle';
      state.sinceMs = null;
  }
}

/** Back beyond the threshold by the hysteresis (numeric ops), or simply no longer holding. */
function cleared(condition: AlertCondition, value: MetricValue): boolean {
  const h = condition.hysteresis ?? 0;
  const t = condition.value;
  if (typeof t !== 'number' || h === 0) return !holds(condition.op, value, t);
  switch (condition.op) {
    case '<':
    case '<=':
      return !holds(condition.op, value, t + h);
    case '>':
    case '>=':
      return !holds(condition.op, value, t - h);
    default:
      return !holds(condition.op, value, t);
  }
}

function fire(
  rule: RuleSpec,
  state: RuleState,
  key: string,
  atMs: number,
  value: unknown,
  effects: Effect[],
): void {
  state.sinceMs = null;
  if (state.firedMs !== null && atMs - state.firedMs < rule.cooldownS * 1000) {
    state.phase = 'quiet';
    return;
  }
  state.phase = 'firing';
  state.firedMs = atMs;
  effects.push({ type: 'fire', key, atMs, value, instant: false });
}

function instant(rule: RuleSpec, state: RuleState, atMs: number, value: unknown, effects: Effect[]): void {
  if (state.firedMs !== null && atMs - state.firedMs < rule.cooldownS * 1000) return;
  state.firedMs = atMs;
  effects.push({ type: 'fire', key: '', atMs, value, instant: true });
}

function onTroubleCodes(
  rule: RuleSpec,
  state: RuleState,
  input: Extract<Input, { kind: 'sample' }>,
  effects: Effect[],
): void {
  const reported = input.raw?.[DTC_RAW_KEY];
  if (typeof reported !== 'string') return;
  const codes = [...new Set(reported.split(',').filter((c) => c.length > 0))];
  for (const code of codes) {
    if (state.dtcs.includes(code)) continue;
    // One alert per code; the cooldown counts from the last code that fired.
    if (state.firedMs !== null && input.tsMs - state.firedMs < rule.cooldownS * 1000) continue;
    state.firedMs = input.tsMs;
    effects.push({ type: 'fire', key: code, atMs: input.tsMs, value: { code }, instant: false });
  }
  for (const code of state.dtcs) {
    if (!codes.includes(code))
      effects.push({ type: 'resolve', key: code, atMs: input.tsMs, value: { code } });
  }
  state.dtcs = codes;
}

function onFix(
  rule: RuleSpec,
  state: RuleState,
  tsMs: number,
  position: { readonly lat: number; readonly lon: number },
  effects: Effect[],
): void {
  const fence = rule.event?.geofence;
  if (!fence) return;
  const inside = haversineKm(position, fence) * 1000 <= fence.radiusM;
  const was = state.inside;
  state.inside = inside;
  if (was === null || was === inside) return;
  if (inside === (rule.event!.type === 'geofence_enter'))
    instant(rule, state, tsMs, { lat: position.lat, lon: position.lon, inside }, effects);
}
