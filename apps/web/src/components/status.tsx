import type { Connectivity } from '@tacho/protocol';
import type { LiveStatus } from '../lib/api.js';

const connectivityTone: Record<Connectivity, string> = { online: 'ok', asleep: 'warn', offline: '' };

export function ConnectivityBadge({ connectivity }: { connectivity: Connectivity | undefined }) {
  const value = connectivity ?? 'offline';
  return <span className={`badge ${connectivityTone[value]}`}>{value}</span>;
}

/** Whether what the page shows is live, so nobody mistakes a stale number for a current one. */
export function LiveIndicator({ status }: { status: LiveStatus }) {
  const label = {
    live: 'Live',
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    closed: 'Not live',
  }[status];
  return (
    <span
      className={`badge ${status === 'live' ? 'ok' : 'warn'}`}
      role="status"
      aria-live="polite"
      data-live={status}
    >
      {label}
    </span>
  );
}
