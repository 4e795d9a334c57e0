import type { MetricValue } from '@tacho/protocol';
import {
  finishStats,
  finiteMetric,
  foldStats,
  haversineKm,
  newAccumulator,
  type Point,
  type SessionStats,
  type StatsAccumulator,
} from './stats.js';

/**
 * Drive and charge detection: a pure state machine, (state, sample) → (state, events), fed one vehicle's
 * samples in device-time order. Its state is plain JSON, so the processor stores it with its progress and
 * a run resumes after any sample. Rules (issue 17; TeslaMate's and Traccar's defaults, see
 * shared/notes/reference-facts.md):
 * - a drive starts on a driving gear (anything but P), or ignition on with speed > 0, or — for sources that
 *   report neither gear nor ignition (phones, trackers) — once the vehicle is `stopRadiusM` from its last
 *   stop; it ends on P or ignition off, or (position-only sources) when the vehicle stays within
 *   `stopRadiusM` for `stopAfterS`, or after `offlineAfterS` without data; shorter than `minDriveKm`, it is
 *   discarded;
 * - a charge starts when `charging_state` is charging (or, without a state, charger power > 0) and ends
 *   when it leaves it; a vehicle back after `chargeGapS` offline with battery level or range up gets a
 *   charge for the gap.
 */

export interface DetectorSettings {
  stopRadiusM: number;
  stopAfterS: number;
  offlineAfterS: number;
  minDriveKm: number;
  chargeGapS: number;
}

export const defaultDetectorSettings: DetectorSettings = {
  stopRadiusM: 200,
  stopAfterS: 180,
  offlineAfterS: 900,
  minDriveKm: 0.1,
  chargeGapS: 300,
};

export type AutoKind = 'drive' | 'charge';

export interface DetectorSample {
  readonly tsMs: number;
  readonly metrics: Readonly<Record<string, MetricValue>>;
  readonly position?: {
    readonly lat: number;
    readonly lon: number;
    readonly alt_m?: number;
    readonly speed_kmh?: number;
  };
}

/** A session as the detector sees it: open while `endMs` is null. */
export interface DetectedSession {
  kind: AutoKind;
  startMs: number;
  endMs: number | null;
  stats: SessionStats;
}

export type DetectorEvent =
  | { type: 'started'; session: DetectedSession }
  | { type: 'ended'; session: DetectedSession }
  /** A drive that ended too short to keep: whatever was shown of it as open goes. */
  | { type: 'discarded'; kind: AutoKind; startMs: number };

interface OpenSession {
  kind: AutoKind;
  acc: StatsAccumulator;
  /** Position-only drives: where the vehicle has stayed within the stop radius, and since when. */
  still: (Point & { sinceMs: number }) | null;
}

export interface DetectorState {
  open: OpenSession | null;
  lastTsMs: number | null;
  /** The last position and when it was reported. */
  lastFix: (Point & { tsMs: number }) | null;
  /** Position-only sources: the place of the last stop, from which moving `stopRadiusM` starts a drive. */
  anchor: Point | null;
  lastSoc: number | null;
  lastRange: number | null;
  /** Once a vehicle reports gear or ignition, those decide, not its movement. */
  reportsGear: boolean;
}

export function initialDetectorState(): DetectorState {
  return {
    open: null,
    lastTsMs: null,
    lastFix: null,
    anchor: null,
    lastSoc: null,
    lastRange: null,
    reportsGear: false,
  };
}

function metric(sample: DetectorSample, key: string): MetricValue | undefined {
  return sample.metrics[key];
}

/** true: charging; false: says it is not; null: says nothing about charging. */
function chargingSignal(sample: DetectorSample): boolean | null {
  const state = metric(sample, 'charging_state');
  if (typeof state === 'string') return state === 'charging';
  const power = finiteMetric(sample.metrics, 'charger_power_kw');
  return power === null ? null : power > 0;
}

/** true: driving; false: parked; null: says nothing (or only movement, judged elsewhere). */
function gearSignal(sample: DetectorSample): boolean | null {
  const gear = metric(sample, 'gear');
  if (typeof gear === 'string') return gear !== 'P';
  const ignition = metric(sample, 'ignition');
  if (ignition === false) return false;
  if (ignition === true) {
    const speed = finiteMetric(sample.metrics, 'speed_kmh') ?? sample.position?.speed_kmh ?? 0;
    return speed > 0 ? true : null;
  }
  return null;
}

function metresBetween(a: Point, b: Point): number {
  return haversineKm(a, b) * 1000;
}

function snapshot(open: OpenSession, endMs: number | null): DetectedSession {
  return {
    kind: open.kind,
    startMs: open.acc.startMs,
    endMs,
    stats: finishStats(structuredClone(open.acc), open.kind),
  };
}

/**
 * Folds one sample. Samples must come in device-time order; a sample older than the last one is ignored
 * here (the processor re-runs the window instead).
 */
export function detect(
  state: DetectorState,
  sample: DetectorSample,
  settings: DetectorSettings = defaultDetectorSettings,
): { state: DetectorState; events: DetectorEvent[] } {
  const events: DetectorEvent[] = [];
  if (state.lastTsMs !== null && sample.tsMs < state.lastTsMs) return { state, events };
  const s: DetectorState = state;
  const gapMs = s.lastTsMs === null ? 0 : sample.tsMs - s.lastTsMs;

  // A long silence ends what was open, at the last sample before it.
  if (s.open && gapMs >= settings.offlineAfterS * 1000) close(s, events, settings, s.lastTsMs!);
  // Back after a gap with more energy than before: it charged meanwhile.
  if (!s.open && s.lastTsMs !== null && gapMs >= settings.chargeGapS * 1000) {
    const soc = finiteMetric(sample.metrics, 'battery_level_pct');
    const range = finiteMetric(sample.metrics, 'range_km');
    const socUp = soc !== null && s.lastSoc !== null && soc > s.lastSoc;
    const rangeUp = range !== null && s.lastRange !== null && range > s.lastRange + 5;
    if (socUp || rangeUp) {
      const acc = newAccumulator(s.lastTsMs);
      const before: Record<string, MetricValue> = {};
      if (s.lastSoc !== null) before.battery_level_pct = s.lastSoc;
      if (s.lastRange !== null) before.range_km = s.lastRange;
      foldStats(acc, { tsMs: s.lastTsMs, metrics: before });
      foldStats(acc, { tsMs: sample.tsMs, metrics: sample.metrics });
      const session = snapshot({ kind: 'charge', acc, still: null }, sample.tsMs);
      events.push({ type: 'started', session }, { type: 'ended', session });
    }
  }

  const gear = gearSignal(sample);
  if (gear !== null || metric(sample, 'gear') !== undefined || metric(sample, 'ignition') !== undefined)
    s.reportsGear = true;
  const charging = chargingSignal(sample);
  const p = sample.position;

  if (s.open?.kind === 'charge') {
    if (charging === false || gear === true) close(s, events, settings, sample.tsMs, sample);
    else foldStats(s.open.acc, sample);
  } else if (s.open?.kind === 'drive') {
    if (charging === true) {
      close(s, events, settings, sample.tsMs, sample);
    } else if (gear === false) {
      close(s, events, settings, sample.tsMs, sample);
    } else {
      foldStats(s.open.acc, sample);
      if (!s.reportsGear && p) {
        const open = s.open;
        if (open.still && metresBetween(open.still, p) <= settings.stopRadiusM) {
          if (sample.tsMs - open.still.sinceMs >= settings.stopAfterS * 1000) {
            const stoppedAt = open.still.sinceMs;
            open.acc.endMs = stoppedAt;
            const anchor = { lat: open.still.lat, lon: open.still.lon };
            close(s, events, settings, stoppedAt);
            s.anchor = anchor;
          }
        } else {
          open.still = { lat: p.lat, lon: p.lon, sinceMs: sample.tsMs };
        }
      }
    }
  }

  if (!s.open) {
    if (charging === true) open(s, events, 'charge', sample);
    else if (gear === true) open(s, events, 'drive', sample);
    else if (!s.reportsGear && p) {
      if (s.anchor === null) s.anchor = { lat: p.lat, lon: p.lon };
      else if (metresBetween(s.anchor, p) >= settings.stopRadiusM) {
        // It left its stop: the drive starts at the last fix there, so its first metres count.
        const from =
          s.lastFix && metresBetween(s.lastFix, s.anchor) < settings.stopRadiusM ? s.lastFix : null;
        open(s, events, 'drive', sample, from);
      }
    }
  }

  s.lastTsMs = sample.tsMs;
  if (p) s.lastFix = { lat: p.lat, lon: p.lon, tsMs: sample.tsMs };
  const soc = finiteMetric(sample.metrics, 'battery_level_pct');
  if (soc !== null) s.lastSoc = soc;
  const range = finiteMetric(sample.metrics, 'range_km');
  if (range !== null) s.lastRange = range;
  return { state: s, events };
}

/** Ends what is open once `nowMs` is `offlineAfterS` past the last sample (a vehicle that fell silent). */
export function tick(
  state: DetectorState,
  nowMs: number,
  settings: DetectorSettings = defaultDetectorSettings,
): { state: DetectorState; events: DetectorEvent[] } {
  const events: DetectorEvent[] = [];
  if (state.open && state.lastTsMs !== null && nowMs - state.lastTsMs >= settings.offlineAfterS * 1000) {
    close(state, events, settings, state.lastTsMs);
  }
  return { state, events };
}

/** The session open now, as it stands (for the vehicle page's "drive in progress"). */
export function openSession(state: DetectorState): DetectedSession | null {
  return state.open ? snapshot(state.open, null) : null;
}

function open(
  s: DetectorState,
  events: DetectorEvent[],
  kind: AutoKind,
  sample: DetectorSample,
  from: (Point & { tsMs: number }) | null = null,
): void {
  const acc = newAccumulator(from?.tsMs ?? sample.tsMs);
  if (from) foldStats(acc, { tsMs: from.tsMs, metrics: {}, position: { lat: from.lat, lon: from.lon } });
  foldStats(acc, sample);
  s.open = { kind, acc, still: null };
  s.anchor = null;
  events.push({ type: 'started', session: snapshot(s.open, null) });
}

function close(
  s: DetectorState,
  events: DetectorEvent[],
  settings: DetectorSettings,
  endMs: number,
  last?: DetectorSample,
): void {
  const open = s.open;
  if (!open) return;
  if (last) foldStats(open.acc, last);
  if (open.acc.endMs > endMs) open.acc.endMs = endMs;
  s.open = null;
  const session = snapshot(open, endMs);
  if (open.kind === 'drive' && session.stats.distance_km < settings.minDriveKm) {
    events.push({ type: 'discarded', kind: open.kind, startMs: session.startMs });
  } else {
    events.push({ type: 'ended', session });
  }
  if (session.stats.end_position) s.anchor = session.stats.end_position;
}
