import type { MetricValue } from '@tacho/protocol';

/**
 * A session's statistics, folded one sample at a time. Pure and small enough to keep in a detector's state
 * (it is stored as JSON between processing runs), so a run can stop after any sample and resume.
 */

/** What the fold needs of a sample. */
export interface StatSample {
  readonly tsMs: number;
  readonly metrics: Readonly<Record<string, MetricValue>>;
  readonly position?: {
    readonly lat: number;
    readonly lon: number;
    readonly alt_m?: number;
    readonly speed_kmh?: number;
  };
}

export interface Point {
  lat: number;
  lon: number;
}

/** The stats as stored and served; units in the names. */
export interface SessionStats {
  distance_km: number;
  duration_s: number;
  moving_s: number;
  max_speed_kmh: number | null;
  avg_speed_kmh: number | null;
  soc_start_pct: number | null;
  soc_end_pct: number | null;
  range_start_km: number | null;
  range_end_km: number | null;
  energy_used_kwh: number | null;
  energy_added_kwh: number | null;
  efficiency_wh_km: number | null;
  max_power_kw: number | null;
  outside_temp_avg_c: number | null;
  start_position: Point | null;
  end_position: Point | null;
  /** Charges: power against battery level, one point per battery level percent at most. */
  charge_curve: Array<{ soc_pct: number; power_kw: number }> | null;
}

/** GPS jumps faster than this are glitches, not travel (issue 17). */
export const MAX_PLAUSIBLE_KMH = 300;
/** Power readings further apart than this are not integrated across (the vehicle was not reporting). */
const MAX_INTEGRATION_GAP_MS = 5 * 60_000;
const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle distance in km. */
export function haversineKm(a: Point, b: Point): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The fold's state: plain JSON. */
export interface StatsAccumulator {
  startMs: number;
  endMs: number;
  /** Odometer at the first and last reading. */
  odoFirst: number | null;
  odoLast: number | null;
  trackKm: number;
  lastFix: (Point & { tsMs: number }) | null;
  /** A fix too far from the last one to be travel, kept until a second fix confirms or refutes it. */
  jumpedTo: (Point & { tsMs: number }) | null;
  startPosition: Point | null;
  movingMs: number;
  lastTsMs: number | null;
  lastMoving: boolean;
  maxSpeed: number | null;
  socFirst: number | null;
  socLast: number | null;
  rangeFirst: number | null;
  rangeLast: number | null;
  capacityKwh: number | null;
  /** Integrated power (kWh) and the last reading it integrates from. */
  powerKwh: number;
  powerSeen: boolean;
  lastPower: { tsMs: number; kw: number } | null;
  chargerKwh: number;
  chargerSeen: boolean;
  lastCharger: { tsMs: number; kw: number } | null;
  addedFirst: number | null;
  addedMax: number | null;
  maxPower: number | null;
  tempSum: number;
  tempCount: number;
  curve: Array<[number, number]>;
}

export function newAccumulator(startMs: number): StatsAccumulator {
  return {
    startMs,
    endMs: startMs,
    odoFirst: null,
    odoLast: null,
    trackKm: 0,
    lastFix: null,
    jumpedTo: null,
    startPosition: null,
    movingMs: 0,
    lastTsMs: null,
    lastMoving: false,
    maxSpeed: null,
    socFirst: null,
    socLast: null,
    rangeFirst: null,
    rangeLast: null,
    capacityKwh: null,
    powerKwh: 0,
    powerSeen: false,
    lastPower: null,
    chargerKwh: 0,
    chargerSeen: false,
    lastCharger: null,
    addedFirst: null,
    addedMax: null,
    maxPower: null,
    tempSum: 0,
    tempCount: 0,
    curve: [],
  };
}

function plausibleStep(from: Point & { tsMs: number }, to: Point & { tsMs: number }): boolean {
  const km = haversineKm(from, to);
  const hours = (to.tsMs - from.tsMs) / 3_600_000;
  return hours > 0 ? km / hours <= MAX_PLAUSIBLE_KMH : km <= 0.05;
}

/** A metric's value when it is a finite number, else null. */
export function finiteMetric(metrics: Readonly<Record<string, MetricValue>>, key: string): number | null {
  const v = metrics[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Folds one sample (in device-time order) into the accumulator; mutates and returns it. */
export function foldStats(acc: StatsAccumulator, sample: StatSample): StatsAccumulator {
  const { tsMs, metrics } = sample;
  if (tsMs < acc.startMs) acc.startMs = tsMs;
  if (tsMs > acc.endMs) acc.endMs = tsMs;

  const speed = finiteMetric(metrics, 'speed_kmh') ?? sample.position?.speed_kmh ?? null;
  let moved = false;
  const odo = finiteMetric(metrics, 'odometer_km');
  if (odo !== null) {
    acc.odoFirst ??= odo;
    if (acc.odoLast !== null && odo > acc.odoLast) moved = true;
    // A counter only grows; a smaller reading is a glitch and never makes a distance negative.
    if (acc.odoLast === null || odo >= acc.odoLast) acc.odoLast = odo;
  }
  const p = sample.position;
  if (p) {
    const fix = { lat: p.lat, lon: p.lon, tsMs };
    acc.startPosition ??= { lat: p.lat, lon: p.lon };
    if (!acc.lastFix) acc.lastFix = fix;
    else if (plausibleStep(acc.lastFix, fix)) {
      const km = haversineKm(acc.lastFix, fix);
      acc.trackKm += km;
      if (km > 0.005) moved = true;
      acc.lastFix = fix;
      acc.jumpedTo = null;
    } else if (acc.jumpedTo && plausibleStep(acc.jumpedTo, fix)) {
      // Two fixes agree on the new place: the vehicle is really there (a gap in data, a ferry). Its
      // distance is unknown and not counted; the track goes on from there.
      acc.lastFix = fix;
      acc.jumpedTo = null;
    } else {
      // A jump faster than any car is a bad fix until another fix confirms it.
      acc.jumpedTo = fix;
    }
  }
  if (speed !== null && speed > 0) moved = true;
  if (acc.lastTsMs !== null && tsMs > acc.lastTsMs && (moved || acc.lastMoving)) {
    const gap = tsMs - acc.lastTsMs;
    if (gap <= MAX_INTEGRATION_GAP_MS) acc.movingMs += gap;
  }
  if (acc.lastTsMs === null || tsMs >= acc.lastTsMs) {
    acc.lastTsMs = tsMs;
    acc.lastMoving = moved;
  }
  if (speed !== null) acc.maxSpeed = Math.max(acc.maxSpeed ?? 0, speed);

  const soc = finiteMetric(metrics, 'battery_level_pct');
  if (soc !== null) {
    acc.socFirst ??= soc;
    acc.socLast = soc;
  }
  const range = finiteMetric(metrics, 'range_km');
  if (range !== null) {
    acc.rangeFirst ??= range;
    acc.rangeLast = range;
  }
  const capacity = finiteMetric(metrics, 'battery_capacity_kwh');
  if (capacity !== null && capacity > 0) acc.capacityKwh = capacity;

  const power = finiteMetric(metrics, 'power_kw');
  if (power !== null) {
    acc.powerSeen = true;
    if (acc.lastPower && tsMs > acc.lastPower.tsMs && tsMs - acc.lastPower.tsMs <= MAX_INTEGRATION_GAP_MS) {
      acc.powerKwh += ((acc.lastPower.kw + power) / 2) * ((tsMs - acc.lastPower.tsMs) / 3_600_000);
    }
    acc.lastPower = { tsMs, kw: power };
    acc.maxPower = Math.max(acc.maxPower ?? power, power);
  }
  const charger = finiteMetric(metrics, 'charger_power_kw');
  if (charger !== null) {
    acc.chargerSeen = true;
    if (
      acc.lastCharger &&
      tsMs > acc.lastCharger.tsMs &&
      tsMs - acc.lastCharger.tsMs <= MAX_INTEGRATION_GAP_MS
    ) {
      acc.chargerKwh += ((acc.lastCharger.kw + charger) / 2) * ((tsMs - acc.lastCharger.tsMs) / 3_600_000);
    }
    acc.lastCharger = { tsMs, kw: charger };
    acc.maxPower = Math.max(acc.maxPower ?? charger, charger);
    if (soc !== null) {
      const last = acc.curve[acc.curve.length - 1];
      const level = Math.round(soc);
      if (!last || last[0] !== level) acc.curve.push([level, charger]);
      else last[1] = Math.max(last[1], charger);
    }
  }
  const added = finiteMetric(metrics, 'charge_energy_added_kwh');
  if (added !== null) {
    acc.addedFirst ??= added;
    acc.addedMax = Math.max(acc.addedMax ?? added, added);
  }
  const temp = finiteMetric(metrics, 'outside_temp_c');
  if (temp !== null) {
    acc.tempSum += temp;
    acc.tempCount++;
  }
  return acc;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function finiteOrNull(value: number | null, digits: number): number | null {
  return value === null || !Number.isFinite(value) ? null : round(value, digits);
}

/** The stats of what was folded, for a drive, a charge or a manual recording. */
export function finishStats(acc: StatsAccumulator, kind: 'drive' | 'charge' | 'manual'): SessionStats {
  const odoKm = acc.odoFirst !== null && acc.odoLast !== null ? acc.odoLast - acc.odoFirst : null;
  const distance = Math.max(0, odoKm !== null && odoKm > 0 ? odoKm : acc.trackKm);
  const durationS = Math.max(0, (acc.endMs - acc.startMs) / 1000);
  let used: number | null = null;
  if (kind !== 'charge') {
    if (acc.powerSeen) used = acc.powerKwh;
    else if (acc.capacityKwh !== null && acc.socFirst !== null && acc.socLast !== null)
      used = ((acc.socFirst - acc.socLast) / 100) * acc.capacityKwh;
  }
  let added: number | null = null;
  if (kind === 'charge') {
    // The counter counts from the start of the car's charge (TeslaMate: last − first).
    if (acc.addedMax !== null && acc.addedFirst !== null) {
      added = Math.max(0, acc.addedMax - acc.addedFirst);
    } else if (acc.chargerSeen) added = acc.chargerKwh;
    else if (acc.capacityKwh !== null && acc.socFirst !== null && acc.socLast !== null)
      added = Math.max(0, ((acc.socLast - acc.socFirst) / 100) * acc.capacityKwh);
  }
  const efficiency = used !== null && distance >= 0.1 ? (used * 1000) / distance : null;
  return {
    distance_km: round(distance, 3),
    duration_s: Math.round(durationS),
    moving_s: Math.round(Math.min(acc.movingMs / 1000, durationS)),
    max_speed_kmh: finiteOrNull(acc.maxSpeed, 1),
    avg_speed_kmh: durationS > 0 ? round(distance / (durationS / 3600), 1) : null,
    soc_start_pct: acc.socFirst,
    soc_end_pct: acc.socLast,
    range_start_km: acc.rangeFirst,
    range_end_km: acc.rangeLast,
    energy_used_kwh: finiteOrNull(used, 3),
    energy_added_kwh: finiteOrNull(added, 3),
    efficiency_wh_km: finiteOrNull(efficiency, 1),
    max_power_kw: finiteOrNull(acc.maxPower, 1),
    outside_temp_avg_c: acc.tempCount > 0 ? round(acc.tempSum / acc.tempCount, 1) : null,
    start_position: acc.startPosition,
    end_position: acc.lastFix ? { lat: acc.lastFix.lat, lon: acc.lastFix.lon } : null,
    charge_curve:
      kind === 'charge' && acc.curve.length > 0
        ? acc.curve.map(([soc, kw]) => ({ soc_pct: soc, power_kw: kw }))
        : null,
  };
}
