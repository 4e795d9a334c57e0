import type {
  Connectivity,
  MetricReading,
  MetricValue,
  PositionReading,
  VehicleState,
} from '@tacho/protocol';

/** `vehicle_state` keeps the position under this metric name, as a JSON object. */
export const POSITION_METRIC = 'position';

/**
 * Online, asleep or offline. Offline: nothing received for `offlineAfterS` (the rule). Of the
 * vehicles still reporting, a vehicle is "asleep" when parked and idle — ignition not on, not moving, not
 * charging — which is what a car that only sends keep-alives looks like; otherwise it is "online".
 */
export function connectivityOf(
  lastSeenMs: number | null,
  metrics: Readonly<Record<string, MetricReading>>,
  position: PositionReading | null,
  nowMs: number,
  offlineAfterS: number,
): Connectivity {
  if (lastSeenMs === null || nowMs - lastSeenMs > offlineAfterS * 1000) return 'offline';
  const speed = metrics.speed_kmh?.value ?? position?.speed_kmh;
  const inUse =
    metrics.ignition?.value === true ||
    (typeof speed === 'number' && speed > 0) ||
    metrics.charging_state?.value === 'charging';
  return inUse ? 'online' : 'asleep';
}

/** Builds the state reply from `vehicle_state` rows. */
export function buildState(
  vehicleId: string,
  rows: ReadonlyArray<{ metric: string; value: string; ts_ms: number }>,
  nowMs: number,
  offlineAfterS: number,
): VehicleState {
  const metrics: Record<string, MetricReading> = {};
  let position: PositionReading | null = null;
  let lastSeenMs: number | null = null;
  for (const row of rows) {
    lastSeenMs = Math.max(lastSeenMs ?? 0, row.ts_ms);
    const value = JSON.parse(row.value) as unknown;
    if (row.metric === POSITION_METRIC && value && typeof value === 'object') {
      position = { ...(value as Omit<PositionReading, 'ts_ms'>), ts_ms: row.ts_ms };
    } else {
      metrics[row.metric] = { value: value as MetricValue, ts_ms: row.ts_ms };
    }
  }
  return {
    vehicleId,
    metrics,
    position,
    lastSeenMs,
    connectivity: connectivityOf(lastSeenMs, metrics, position, nowMs, offlineAfterS),
  };
}
