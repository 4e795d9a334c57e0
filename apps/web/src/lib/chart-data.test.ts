import { describe, expect, it } from 'vitest';
import { gapThresholdMs, MIN_GAP_MS, splitTrack, withGaps } from './chart-data.js';

const MIN = 60_000;
const HOUR = 3_600_000;

describe('chart data: gaps are gaps', () => {
  it('breaks a 10-second series after an hour without data, and not between its samples', () => {
    const t = [0, 10_000, 20_000, 30_000, HOUR + 30_000, HOUR + 40_000];
    const v = [1, 2, 3, 4, 5, 6];
    const gapped = withGaps(t, v);
    expect(gapped.v).toEqual([1, 2, 3, 4, null, 5, 6]);
    expect(gapped.t[4]).toBeGreaterThan(30_000);
    expect(gapped.t[4]).toBeLessThan(HOUR + 30_000);
  });

  it('takes five times the usual spacing, at least a minute', () => {
    expect(gapThresholdMs([0, 10_000, 20_000, 30_000])).toBe(MIN_GAP_MS);
    expect(gapThresholdMs([0, HOUR, 2 * HOUR, 3 * HOUR])).toBe(5 * HOUR);
    expect(withGaps([0, HOUR, 2 * HOUR, 9 * HOUR], [1, 2, 3, 4]).v).toEqual([1, 2, 3, null, 4]);
  });

  it('keeps a single point and an empty series as they are', () => {
    expect(withGaps([5], [7])).toEqual({ t: [5], v: [7] });
    expect(withGaps([], [])).toEqual({ t: [], v: [] });
  });

  it('splits a track into one line per stretch of driving', () => {
    const times = [0, MIN / 2, MIN, 3 * HOUR, 3 * HOUR + MIN / 2];
    expect(splitTrack(['a', 'b', 'c', 'd', 'e'], times)).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
  });
});
