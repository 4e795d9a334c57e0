import type { Session } from '@tacho/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import { client } from '../lib/api.js';
import { useNow } from '../lib/live.js';
import { Link } from '../lib/router.js';
import { inProgressText } from '../lib/sessions.js';
import { Button, errorMessage } from './ui.js';

/** A fallback when no live update comes (a drive's figures are computed after the data is stored). */
const POLL_MS = 30_000;
/** After a live update, wait this long before asking: the sessions processor runs after the commit. */
const AFTER_UPDATE_MS = 3_000;

export interface OpenSessions {
  /** The drive or charge in progress. */
  auto: Session | null;
  /** The manual recording not stopped yet (at most one per vehicle). */
  recording: Session | null;
  reload: () => void;
}

/** Is it still open? The newest of each kind, since sessions of one kind never overlap. */
async function loadOpen(vehicleId: string): Promise<Omit<OpenSessions, 'reload'>> {
  const newest = (kind: Session['kind']) =>
    client.sessions.list(vehicleId, { kind, limit: 1 }).then((page) => {
      const session = page.items[0];
      return session && session.endMs === null ? session : null;
    });
  const [drive, charge, recording] = await Promise.all([newest('drive'), newest('charge'), newest('manual')]);
  return { auto: drive ?? charge, recording };
}

/**
 * The vehicle's sessions in progress, asked again a moment after each live update (`updatedMs`, the
 * vehicle's last data) and every 30 s without one. A failed refresh keeps what is shown.
 */
export function useOpenSessions(vehicleId: string, updatedMs?: number | null): OpenSessions {
  const [open, setOpen] = useState<Omit<OpenSessions, 'reload'>>({ auto: null, recording: null });
  const run = useRef(0);
  const reload = useCallback(() => {
    const id = ++run.current;
    loadOpen(vehicleId).then(
      (next) => {
        if (id === run.current) setOpen(next);
      },
      () => {},
    );
  }, [vehicleId]);

  useEffect(() => {
    reload();
    const timer = setInterval(() => {
      if (!document.hidden) reload();
    }, POLL_MS);
    return () => {
      clearInterval(timer);
      run.current++;
    };
  }, [reload]);

  // One request per burst of updates: a vehicle reporting every second is not asked about every second.
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    if (!updatedMs || pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      reload();
    }, AFTER_UPDATE_MS);
  }, [updatedMs, reload]);
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
      pending.current = null;
    },
    [],
  );

  return { ...open, reload };
}

/** Start a manual recording, or stop the one running: for those who manage the vehicle. */
export function RecordingControl({
  vehicleId,
  recording,
  onChange,
}: {
  vehicleId: string;
  recording: Session | null;
  onChange: (session: Session | null) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async () => {
    setBusy(true);
    setError(null);
    try {
      onChange(
        recording
          ? await client.sessions.stopRecording(recording.id)
          : await client.sessions.startRecording(vehicleId),
      );
    } catch (failure) {
      // A 409: someone else started or stopped it meanwhile; what is shown is refreshed.
      setError(errorMessage(failure));
      onChange(null);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button className={recording ? undefined : 'primary'} busy={busy} onClick={act}>
        {recording ? 'Stop recording' : 'Start recording'}
      </Button>
      {error && (
        <span className="field-error small" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

/**
 * On the vehicle's page: the drive or charge in progress and the running recording, each linking to its
 * page, and the recording control for managers. Nothing when nothing runs and one may not record.
 */
export function SessionNow({
  vehicleId,
  canManage,
  updatedMs,
}: {
  vehicleId: string;
  canManage: boolean;
  updatedMs: number | null | undefined;
}) {
  const { auto, recording, reload } = useOpenSessions(vehicleId, updatedMs);
  const now = useNow(15_000);
  if (!auto && !recording && !canManage) return null;
  return (
    <section className="card session-now" aria-label="Sessions in progress">
      <div className="session-lines">
        {auto && (
          <p className="session-line" data-session-open={auto.kind}>
            <span className="badge ok">in progress</span>{' '}
            <Link href={`/sessions/${auto.id}`}>{inProgressText(auto, now)}</Link>
          </p>
        )}
        {recording && (
          <p className="session-line" data-session-open="manual">
            <span className="badge warn">recording</span>{' '}
            <Link href={`/sessions/${recording.id}`}>
              {recording.name ? `${recording.name}: ` : ''}
              {inProgressText(recording, now)}
            </Link>
          </p>
        )}
        {!auto && !recording && (
          <p className="session-line muted small">
            No drive or charge in progress. A recording keeps any period you choose, driving or not.
          </p>
        )}
      </div>
      {canManage && (
        <div className="row">
          <RecordingControl vehicleId={vehicleId} recording={recording} onChange={reload} />
        </div>
      )}
    </section>
  );
}
