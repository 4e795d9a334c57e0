import { describe, expect, it } from 'vitest';
import { connectivityAt, isStale } from './connectivity.js';

describe('connectivity as time passes', () => {
  const seen = 1_000_000;
  it('keeps what the server said until the offline limit, then says offline', () => {
    const state = { connectivity: 'online' as const, lastSeenMs: seen };
    expect(connectivityAt(state, seen + 599_000, 600)).toBe('online');
    expect(connectivityAt(state, seen + 600_000, 600)).toBe('online');
    expect(connectivityAt(state, seen + 600_001, 600)).toBe('offline');
    expect(connectivityAt({ connectivity: 'asleep', lastSeenMs: seen }, seen + 10_000, 600)).toBe('asleep');
  });
  it('is offline without a state or without anything ever seen', () => {
    expect(connectivityAt(undefined, seen, 600)).toBe('offline');
    expect(connectivityAt({ connectivity: 'online', lastSeenMs: null }, seen, 600)).toBe('offline');
  });
  it('marks readings older than the limit as stale', () => {
    expect(isStale(seen, seen + 30_000, 20)).toBe(true);
    expect(isStale(seen, seen + 10_000, 20)).toBe(false);
  });
});
