import type { Connectivity } from '@tacho/protocol';
import type { LiveStatus } from '../lib/api.js';

const connectivityTone: Record<Connectivity, string> = { online: 'ok', asleep: 'warn', offline: '' };

/**
 * The vehicle's state ("Vehicle online", green; asleep, amber; offline, grey), told apart from the page's
 * own connection (`LiveIndicator`, blue, "Updates live"): a live page may well show an offline car.
 */
export function ConnectivityBadge({ connectivity }: { connectivity: Connectivity | undefined }) {
  const value = connectivity ?? 'offline';
  return (
    <span className={`badge vehicle-state ${connectivityTone[value]}`} data-connectivity={value}>
      Vehicle {value}
    </span>
  );
}

/** Whether what the page shows is live, so nobody mistakes a stale number for a current one. */
export function LiveIndicator({ status }: { status: LiveStatus }) {
  const label = {
    live: 'Updates live',
    connecting: 'Updates connecting…',
    reconnecting: 'Updates reconnecting…',
    closed: 'Updates stopped',
  }[status];
  return (
    <span
      className={`badge connection ${status === 'live' ? 'live' : 'warn'}`}
      title="This page's connection to the server, not the vehicle's"
      role="status"
      aria-live="polite"
      data-live={status}
    >
      {label}
    </span>
  );
}
