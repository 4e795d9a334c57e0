/**
 * What a time chart draws: the x axis spans the chosen range (not just the part with data), and a pause
 * in the data is a break in the line, never a straight line across an hour without samples.
 */

/** The shortest pause that breaks a line, whatever the sampling: a minute. */
export const MIN_GAP_MS = 60_000;

/**
 * How long a pause between two points must be to break the line: five times the usual (median) spacing,
 * and at least a minute, so a car sending every 10 s breaks after a minute of silence and hourly
 * aggregates after five missing hours.
 */
export function gapThresholdMs(t: readonly number[]): number {
  if (t.length < 3) return MIN_GAP_MS;
  const steps: number[] = [];
  for (let i = 1; i < t.length; i++) steps.push(t[i]! - t[i - 1]!);
  steps.sort((a, b) => a - b);
  const median = steps[Math.floor(steps.length / 2)]!;
  return Math.max(MIN_GAP_MS, median * 5);
}

/**
 * The series with a null between two points further apart than `gapMs` (uPlot and the map draw a null
 * as a break). The null sits at the middle of the pause so the axis keeps its order.
 */
export function withGaps(
  t: readonly number[],
  v: readonly number[],
  gapMs: number = gapThresholdMs(t),
): { t: number[]; v: Array<number | null> } {
  const outT: number[] = [];
  const outV: Array<number | null> = [];
  for (let i = 0; i < t.length; i++) {
    if (i > 0 && t[i]! - t[i - 1]! > gapMs) {
      outT.push((t[i]! + t[i - 1]!) / 2);
      outV.push(null);
    }
    outT.push(t[i]!);
    outV.push(v[i]!);
  }
  return { t: outT, v: outV };
}

/**
 * A track's points split where the time between two fixes is longer than `gapMs`: one line per part, so
 * the map does not draw a straight line between where the car was parked and where it next drove.
 */
export function splitTrack<P>(points: readonly P[], times: readonly number[], gapMs?: number): P[][] {
  const threshold = gapMs ?? gapThresholdMs(times);
  const parts: P[][] = [];
  let current: P[] = [];
  for (let i = 0; i < points.length; i++) {
    if (i > 0 && times[i]! - times[i - 1]! > threshold) {
      parts.push(current);
      current = [];
    }
    current.push(points[i]!);
  }
  if (current.length > 0) parts.push(current);
  return parts;
}
