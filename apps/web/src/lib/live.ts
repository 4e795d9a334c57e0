import { applyUpdate, type VehicleState } from '@tacho/protocol';
import { useEffect, useState } from 'react';
import { api, type LiveStatus } from './api.js';

/**
 * Current state of some vehicles, kept live from the WebSocket: a snapshot on subscribe (and again after
 * every reconnect, which is how gaps are filled), then updates applied as they come.
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
    return api.watchVehicles(vehicleIds, {
      status: setStatus,
      snapshot: (state) => setStates((all) => new Map(all).set(state.vehicleId, state)),
      update: (update) =>
        setStates((all) => {
          const current = all.get(update.vehicleId);
          return current ? new Map(all).set(update.vehicleId, applyUpdate(current, update)) : all;
        }),
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
