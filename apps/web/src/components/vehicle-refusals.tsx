import type { VehicleRefusals } from '@tacho/protocol';
import { useEffect, useState } from 'react';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { useUser } from '../lib/session.js';

/** How often an open vehicle page asks again, so a device that starts being refused shows up. */
const POLL_MS = 30_000;
/** A refusal this recent is a warning; an older one is only noted. */
const RECENT_MS = 24 * 60 * 60 * 1000;

/** The vehicle's refusals as the page loaded them, then as `GET /vehicles/:id` reports them. */
function useRefusals(vehicleId: string, initial: VehicleRefusals | null): VehicleRefusals | null {
  const [refusals, setRefusals] = useState(initial);
  useEffect(() => setRefusals(initial), [initial]);
  useEffect(() => {
    const timer = setInterval(() => {
      client.vehicles.get(vehicleId).then(
        (v) => setRefusals(v.refusals ?? null),
        // A failed poll keeps what is shown; the page's own error handling speaks for the vehicle.
        () => {},
      );
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [vehicleId]);
  return refusals;
}

/** A hint for the reasons people can act on without reading the payload. */
function hintFor(reason: string): string | null {
  if (/ahead of the server clock/.test(reason)) return "The device's clock may be running fast.";
  return null;
}

/**
 * Says when the server refuses a vehicle's messages (each kept as a dead letter), how many, and the last
 * reason: without it a device with a clock ten minutes fast looks connected and simply shows no data.
 */
export function RefusalNotice({
  vehicleId,
  initial,
  now,
}: {
  vehicleId: string;
  initial: VehicleRefusals | null;
  now: number;
}) {
  const user = useUser();
  const refusals = useRefusals(vehicleId, initial);
  if (!refusals) return null;
  const recent = now - refusals.lastMs < RECENT_MS;
  const hint = hintFor(refusals.lastReason);
  const count = refusals.count.toLocaleString();
  return (
    <section className={recent ? 'alert warn refusals' : 'alert refusals'} aria-label="Refused messages">
      <p>
        <strong>
          {count} {refusals.count === 1 ? 'message' : 'messages'} refused
        </strong>{' '}
        <span className="muted small">since {formatTime(refusals.firstMs)}</span>
      </p>
      <p>
        Last refused {formatRelative(refusals.lastMs, now)}{' '}
        <span className="muted small">({formatTime(refusals.lastMs)})</span>:{' '}
        <span className="mono reason">{refusals.lastReason}</span>
      </p>
      {(hint || user.role === 'admin') && (
        <p className="small">
          {hint}
          {hint && user.role === 'admin' ? ' ' : ''}
          {user.role === 'admin' && <Link href="/admin?tab=dead-letters">See the dead letters</Link>}
        </p>
      )}
    </section>
  );
}
