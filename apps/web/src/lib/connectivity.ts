import type { Connectivity, VehicleState } from '@tacho/protocol';

/**
 * The vehicle's state as of `nowMs`: what the server said, except that a vehicle silent for longer than
 * TACHO_OFFLINE_AFTER_S is offline from that moment on (the server only says so when asked again; a page
 * left open must not keep showing "online").
 */
export function connectivityAt(
  state: Pick<VehicleState, 'connectivity' | 'lastSeenMs'> | undefined,
  nowMs: number,
  offlineAfterS: number,
): Connectivity {
  if (!state || state.lastSeenMs === null) return 'offline';
  if (nowMs - state.lastSeenMs > offlineAfterS * 1000) return 'offline';
  return state.connectivity;
}

/** Whether a reading is older than the offline limit: shown, but marked as stale. */
export function isStale(tsMs: number, nowMs: number, offlineAfterS: number): boolean {
  return nowMs - tsMs > offlineAfterS * 1000;
}
