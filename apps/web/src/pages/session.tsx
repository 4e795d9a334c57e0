import type { DownsampledSamples, Session, SessionTrack, VehicleView } from '@tacho/protocol';
import { useEffect, useMemo, useState } from 'react';
import { ExportControl } from '../components/export-control.js';
import { Chart, MapView } from '../components/lazy.js';
import { Button, ConfirmDialog, ErrorBox, errorMessage, Loading } from '../components/ui.js';
import { client } from '../lib/api.js';
import { useWebConfig } from '../lib/config.js';
import { formatSince, formatTime } from '../lib/format.js';
import { useNow } from '../lib/live.js';
import { displaySeries, metricLabel, metricUnit } from '../lib/metrics.js';
import { Link, navigate } from '../lib/router.js';
import { formatSessionDuration, kindLabels, listToReturnTo, statRows } from '../lib/sessions.js';
import { useAsync } from '../lib/use-async.js';

/** About one point per horizontal pixel of a laptop-wide chart or map. */
const MAX_POINTS = 1000;
/** An open session (a drive in progress, a recording) is asked again this often. */
const REFRESH_MS = 30_000;

const chartsFor: Record<Session['kind'], readonly string[]> = {
  drive: ['speed_kmh', 'battery_level_pct', 'power_kw'],
  charge: ['charger_power_kw', 'battery_level_pct'],
  manual: ['speed_kmh', 'battery_level_pct', 'power_kw'],
};

const kindWords: Record<Session['kind'], string> = { drive: 'drive', charge: 'charge', manual: 'recording' };

function SessionMap({ track, kind, open }: { track: SessionTrack; kind: Session['kind']; open: boolean }) {
  const { mapTiles } = useWebConfig();
  const trail = useMemo(
    () => track.geometry.coordinates.map(([lon, lat]) => [lat ?? 0, lon ?? 0] as const),
    [track],
  );
  const start = useMemo(() => (trail[0] ? { lat: trail[0][0], lon: trail[0][1] } : null), [trail]);
  const end = useMemo(() => {
    const last = trail.at(-1);
    return last ? { lat: last[0], lon: last[1] } : null;
  }, [trail]);
  // A charge stays put: one dot, no start and end to tell apart.
  const moved = start !== null && end !== null && (start.lat !== end.lat || start.lon !== end.lon);
  if (trail.length === 0)
    return <p className="muted">No positions were recorded in this {kindWords[kind]}.</p>;
  return (
    <div>
      <MapView
        tiles={mapTiles}
        position={end}
        start={moved ? start : null}
        trail={trail}
        fit
        label={`Map of the ${kindWords[kind]}, ${track.properties.totalPoints} positions`}
      />
      {moved && (
        <p className="small muted map-key">
          <span className="dot hollow" aria-hidden="true" /> start
          <span className="dot" aria-hidden="true" /> {open ? 'now' : 'end'}
        </p>
      )}
    </div>
  );
}

function SessionCharts({ session, samples }: { session: Session; samples: DownsampledSamples }) {
  const curve = useMemo(
    () => [...(session.stats.charge_curve ?? [])].sort((a, b) => a.soc_pct - b.soc_pct),
    [session.stats.charge_curve],
  );
  const series = chartsFor[session.kind].flatMap((metric) => {
    const found = samples.series.find((s) => s.metric === metric);
    return found && found.t.length > 0 ? [found] : [];
  });
  return (
    <>
      {series.map((s) => (
        <section key={s.metric} className="card" aria-label={metricLabel(s.metric)}>
          <h2>{metricLabel(s.metric)}</h2>
          <Chart
            title={metricLabel(s.metric)}
            unit={metricUnit(s.metric)}
            t={s.t}
            v={displaySeries(s.metric, s.v)}
            syncKey={`session-${session.id}`}
          />
        </section>
      ))}
      {curve.length > 1 && (
        <section className="card" aria-label="Charge curve">
          <h2>Charge curve</h2>
          <p className="small muted" style={{ marginTop: 0 }}>
            Charging power against battery level.
          </p>
          <Chart
            title="Charging power"
            unit="kW"
            t={curve.map((p) => p.soc_pct)}
            v={curve.map((p) => p.power_kw)}
            x={{ label: 'Battery level', unit: '%' }}
          />
        </section>
      )}
      {series.length === 0 && curve.length < 2 && (
        <p className="muted">No speed, battery or power readings were recorded in it.</p>
      )}
    </>
  );
}

/** Asks before deleting, saying what goes with it, then returns to the list. */
function DeleteSession({ session, onClose }: { session: Session; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const what = kindWords[session.kind];
  return (
    <ConfirmDialog
      title={`Delete this ${what}?`}
      confirmLabel={`Delete ${what}`}
      busy={busy}
      error={error}
      onCancel={onClose}
      onConfirm={async () => {
        setBusy(true);
        setError(null);
        try {
          await client.sessions.delete(session.id);
          navigate(listToReturnTo(session.vehicleId), { replace: true });
        } catch (failure) {
          setError(errorMessage(failure));
          setBusy(false);
        }
      }}
    >
      <p>
        The {what} from {formatTime(session.startMs)} to {formatSince(session.endMs ?? 0, session.startMs)} is
        deleted, and with it every sample the vehicle recorded in that time: positions, speeds, battery levels
        and all other readings. History and exports will no longer have them.
      </p>
      <p>This cannot be undone.</p>
    </ConfirmDialog>
  );
}

export function SessionDetailPage({ id }: { id: string }) {
  const session = useAsync(() => client.sessions.get(id), [id]);
  const s = session.data;
  const open = s ? s.endMs === null : false;
  const vehicle = useAsync<VehicleView | null>(
    () => (s ? client.vehicles.get(s.vehicleId) : Promise.resolve(null)),
    [s?.vehicleId],
  );
  // Bumped to fetch the track and charts again while the session is open.
  const [version, setVersion] = useState(0);
  const track = useAsync(() => client.sessions.track(id, MAX_POINTS), [id, version]);
  const samples = useAsync<DownsampledSamples | null>(
    () =>
      s
        ? client.sessions.samples(id, { metrics: chartsFor[s.kind], maxPoints: MAX_POINTS })
        : Promise.resolve(null),
    [id, s?.kind, version],
  );
  const now = useNow(open ? 15_000 : 3_600_000);
  const [deleting, setDeleting] = useState(false);
  const [stopping, setStopping] = useState<{ busy: boolean; error: string | null }>({
    busy: false,
    error: null,
  });

  const { reload } = session;
  useEffect(() => {
    if (!open) return;
    const timer = setInterval(() => {
      if (document.hidden) return;
      reload();
      setVersion((v) => v + 1);
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [open, reload]);

  if (session.status === 'error') return <ErrorBox error={session.error} onRetry={session.reload} />;
  if (!s) return <Loading what="Loading" />;

  const canManage = vehicle.data ? vehicle.data.access !== 'viewer' : false;
  const title = s.name ?? kindLabels[s.kind];
  const stop = async () => {
    setStopping({ busy: true, error: null });
    try {
      const stopped = await client.sessions.stopRecording(s.id);
      session.setData(() => stopped);
      setVersion((v) => v + 1);
      setStopping({ busy: false, error: null });
    } catch (failure) {
      setStopping({ busy: false, error: errorMessage(failure) });
      session.reload();
    }
  };

  return (
    <>
      <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
        <Link href="/vehicles">Vehicles</Link> /{' '}
        <Link href={`/vehicles/${s.vehicleId}`}>{vehicle.data?.name ?? '…'}</Link> /{' '}
        <Link href={`/vehicles/${s.vehicleId}/sessions`}>Drives and charges</Link> / {title}
      </nav>
      <div className="page-head">
        <div>
          <h1>
            {title} <span className="muted">· {formatTime(s.startMs)}</span>
          </h1>
          <div className="muted small">
            {vehicle.data?.name ?? '…'} · {formatSince(s.startMs, s.endMs ?? now)} –{' '}
            {s.endMs === null ? 'now' : formatSince(s.endMs, s.startMs)} ({formatSessionDuration(s, now)})
            {open && (
              <>
                {' '}
                <span className="badge ok">in progress</span>
              </>
            )}
          </div>
        </div>
        <div className="row" style={{ alignItems: 'end' }}>
          <ExportControl
            what="this session"
            urlFor={(format, units) => client.transfer.sessionExportUrl(s.id, format, units)}
          />
          {canManage && s.kind === 'manual' && open && (
            <Button className="primary" busy={stopping.busy} onClick={stop}>
              Stop recording
            </Button>
          )}
          {canManage && !open && (
            <button type="button" className="danger" onClick={() => setDeleting(true)}>
              Delete
            </button>
          )}
        </div>
      </div>
      {stopping.error && <ErrorBox error={stopping.error} />}
      <div className="stack">
        <dl className="stat-grid" aria-label="Figures">
          {statRows(s, now).map((row) => (
            <div key={row.key} data-stat={row.key} className={row.wide ? 'wide' : undefined}>
              <dt>{row.label}</dt>
              <dd>{row.value}</dd>
            </div>
          ))}
        </dl>
        {track.status === 'error' && <ErrorBox error={track.error} onRetry={track.reload} />}
        {track.data ? (
          <SessionMap track={track.data} kind={s.kind} open={open} />
        ) : (
          <Loading what="Loading the track" />
        )}
        {samples.status === 'error' && <ErrorBox error={samples.error} onRetry={samples.reload} />}
        {samples.data ? (
          <SessionCharts session={s} samples={samples.data} />
        ) : (
          samples.status === 'loading' && <Loading what="Loading the charts" />
        )}
      </div>
      {deleting && <DeleteSession session={s} onClose={() => setDeleting(false)} />}
    </>
  );
}
