import { ApiError, type SessionListQuery, TachoClient } from '@tacho/client';
import type { VehicleState } from '@tacho/protocol';
import { defaultWebConfig, type WebConfig } from './config.js';

/**
 * The dashboard's one `TachoClient`: pages call it directly (`client.vehicles.list()`), with the wire
 * types of `@tacho/protocol`. This file only adds what is the dashboard's own: the session-lost signal,
 * the served config, logging out with the socket, and watching live state.
 */
export { ApiError, type SessionListQuery };

/** `closed`: the socket gave up (the login ended); the page still shows the last known values. */
export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface VehicleWatcher {
  status(status: LiveStatus): void;
  /** The vehicle's whole current state, after every snapshot and update. */
  state(state: VehicleState): void;
  error(vehicleId: string, message: string): void;
}

const sessionLost = new Set<() => void>();

/** Called when a 401 survives the refresh: the login is gone and the user must log in again. */
export function onSessionLost(listener: () => void): () => void {
  sessionLost.add(listener);
  return () => sessionLost.delete(listener);
}

/** The one client of the dashboard: cookie mode, same origin, refresh on 401 with one refresh in flight. */
export const client = new TachoClient({
  mode: 'cookie',
  onSessionLost: () => {
    for (const listener of sessionLost) listener();
  },
});

/** The served `/config.json` over the defaults. */
export async function webConfig(): Promise<WebConfig> {
  return { ...defaultWebConfig, ...(await client.http.request<Partial<WebConfig>>('GET', '/config.json')) };
}

/** Ends this login and closes its socket: the next user's pages open their own. */
export async function logout(): Promise<void> {
  try {
    await client.auth.logout();
  } finally {
    client.close();
  }
}

const liveStatus = {
  connecting: 'connecting',
  open: 'live',
  reconnecting: 'reconnecting',
  closed: 'closed',
} as const;

/** Subscribes to live state; returns the function that stops watching. */
export function watchVehicles(vehicleIds: readonly string[], watcher: VehicleWatcher): () => void {
  const live = client.live;
  watcher.status(liveStatus[live.status]);
  const stops = [live.onStatus((status) => watcher.status(liveStatus[status]))];
  const fromSocket = new Set<string>();
  for (const id of vehicleIds) {
    // REST answers first and keeps the page useful while the socket connects (or cannot).
    client.readings.state(id).then(
      (state) => {
        if (!fromSocket.has(id)) watcher.state(state);
      },
      (error: unknown) => watcher.error(id, error instanceof Error ? error.message : String(error)),
    );
    stops.push(
      live.subscribe(id, {
        state(state) {
          fromSocket.add(id);
          watcher.state(state);
        },
        error: (_code, message) => watcher.error(id, message),
      }),
    );
  }
  return () => {
    for (const stop of stops) stop();
  };
}
