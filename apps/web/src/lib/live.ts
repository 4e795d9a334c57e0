import type { VehicleState } from '@tacho/protocol';
import { useEffect, useState } from 'react';
import { type LiveStatus, watchVehicles } from './api.js';

/**
 * Current state of some vehicles: from REST at once, then kept live by the client's socket (snapshot on
 * subscribe, updates applied, REST resync and resubscribe after a reconnect).
 */
export function useLiveStates(vehicleIds: readonly string[]): {
  states: ReadonlyMap<string, VehicleState>;
  status: LiveStatus;
  errors: ReadonlyMap<string, string>;
} {
  const [states, setStates] = useState<ReadonlyMap<string, VehicleState>>(new Map());
  const [errors, setErrors] = useState<ReadonlyMap<string, string>>(new Map());
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const key = vehicleIds.join(',');

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for the id list
  useEffect(() => {
    if (vehicleIds.length === 0) return;
    return watchVehicles(vehicleIds, {
      status: setStatus,
      state: (state) => setStates((all) => new Map(all).set(state.vehicleId, state)),
      error: (vehicleId, message) => setErrors((all) => new Map(all).set(vehicleId, message)),
    });
  }, [key]);

  return { states, status, errors };
}

/** A ticking clock so "5 seconds ago" stays true without new data. */
export function useNow(intervalMs = 5000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
