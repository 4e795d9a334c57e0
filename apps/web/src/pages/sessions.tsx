import type { Session, SessionPage, VehicleView } from '@tacho/protocol';
import { useEffect, useMemo, useState } from 'react';
import { RecordingControl, useOpenSessions } from '../components/session-now.js';
import { Button, Empty, ErrorBox, errorMessage, Loading, SelectField } from '../components/ui.js';
import { client, type SessionListQuery } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { useNow } from '../lib/live.js';
import { Link, navigate, useLocation } from '../lib/router.js';
import {
  formatDistance,
  formatEfficiency,
  formatEnergy,
  formatRoute,
  formatSessionDuration,
  kindFilter,
  kindFilters,
  kindLabels,
  mergeNewest,
  rangeFrom,
  rememberList,
  sessionRanges,
} from '../lib/sessions.js';
import { useAsync } from '../lib/use-async.js';

const PAGE_SIZE = 25;
/** The newest page is asked again this often, so a drive in progress grows and a new one appears. */
const REFRESH_MS = 30_000;

function SessionRow({
  session,
  vehicleName,
  now,
}: {
  session: Session;
  vehicleName: string | null;
  now: number;
}) {
  const open = session.endMs === null;
  return (
    <tr data-session={session.id}>
      <td className="when" data-label="When">
        <Link href={`/sessions/${session.id}`}>{formatTime(session.startMs)}</Link>
        {/* On a phone the kind and vehicle columns fold into this line. */}
        <span className="when-extra">
          {' '}
          · {session.name ?? kindLabels[session.kind]}
          {vehicleName !== null && ` · ${vehicleName}`}
          {open && <span className="badge ok">in progress</span>}
        </span>
      </td>
      {vehicleName !== null && (
        <td className="vehicle" data-label="Vehicle">
          {vehicleName}
        </td>
      )}
      <td className="kind" data-label="Kind">
        <span className="kind-name">{session.name ?? kindLabels[session.kind]}</span>
        {open && <span className="badge ok">in progress</span>}
      </td>
      <td className="route mono" data-label="From → to">
        {formatRoute(session)}
      </td>
      <td className="num" data-label="Distance" data-stat="distance">
        {formatDistance(session)}
      </td>
      <td className="num" data-label="Duration">
        {formatSessionDuration(session, now)}
      </td>
      <td className="num" data-label={session.kind === 'charge' ? 'Energy added' : 'Energy used'}>
        {formatEnergy(session)}
      </td>
      <td className="num" data-label="Consumption">
        {formatEfficiency(session)}
      </td>
    </tr>
  );
}

/** Whether the list is of one vehicle, and whether its reader may record it: what the empty list says. */
type Scope = 'all' | 'manager' | 'reader';

function NoSessions({ filtered, scope }: { filtered: boolean; scope: Scope }) {
  if (filtered) {
    return (
      <Empty>
        <p>Nothing matches these filters.</p>
        <p>Choose “All kinds” and “All time” to see every drive, charge and recording.</p>
      </Empty>
    );
  }
  return (
    <Empty>
      <p>
        <strong>No drives or charges yet.</strong>
      </p>
      <p>
        They appear here by themselves after the vehicle has driven or charged: Tacho finds them in its
        telemetry (gear, speed, position, charging state) moments after the data arrives.
      </p>
      <p>
        {scope === 'manager'
          ? 'To keep any other period, driving or not, use “Start recording” above.'
          : scope === 'reader'
            ? 'Those who manage the vehicle can also record any other period with “Start recording”.'
            : 'To keep any other period, driving or not, start a recording on a vehicle’s page.'}
      </p>
    </Empty>
  );
}

/** Drives, charges and recordings of one vehicle, or (no id) of every vehicle one may see. */
export function SessionsPage({ vehicleId }: { vehicleId?: string }) {
  const { path, search, href } = useLocation();
  const kind = kindFilter(search.get('kind'));
  const range = sessionRanges.some((r) => r.value === search.get('range')) ? search.get('range') : 'all';
  const [loadedAt] = useState(() => Date.now());
  const from = rangeFrom(range, loadedAt);
  const now = useNow(30_000);
  useEffect(() => {
    rememberList(href);
  }, [href]);

  const setQuery = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value === 'all') next.delete(key);
    else next.set(key, value);
    const query = next.toString();
    navigate(query ? `${path}?${query}` : path, { replace: true });
  };

  const vehicle = useAsync<VehicleView | null>(
    () => (vehicleId ? client.vehicles.get(vehicleId) : Promise.resolve(null)),
    [vehicleId],
  );
  // Names for the list across vehicles; the list works without them.
  const vehicles = useAsync<VehicleView[]>(
    () => (vehicleId ? Promise.resolve([]) : client.vehicles.list()),
    [vehicleId],
  );
  const names = useMemo(() => new Map((vehicles.data ?? []).map((v) => [v.id, v.name])), [vehicles.data]);

  const query = useMemo<SessionListQuery>(
    () => ({ limit: PAGE_SIZE, ...(kind ? { kind } : {}), ...(from !== undefined ? { from } : {}) }),
    [kind, from],
  );
  const list = useAsync<SessionPage>(
    () => client.sessions.list(vehicleId ?? null, query),
    [vehicleId, query],
  );
  const [older, setOlder] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });

  const { setData } = list;
  useEffect(() => {
    let current = true;
    const timer = setInterval(() => {
      if (document.hidden) return;
      client.sessions.list(vehicleId ?? null, query).then(
        (fresh) => {
          if (current) setData((shown) => mergeNewest(shown, fresh));
        },
        () => {},
      );
    }, REFRESH_MS);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [vehicleId, query, setData]);

  const loadOlder = async () => {
    const before = list.data?.nextBefore;
    if (!before) return;
    setOlder({ busy: true, error: null });
    try {
      const page = await client.sessions.list(vehicleId ?? null, { ...query, before });
      list.setData((shown) => {
        const seen = new Set(shown.items.map((s) => s.id));
        return {
          items: [...shown.items, ...page.items.filter((s) => !seen.has(s.id))],
          nextBefore: page.nextBefore,
        };
      });
      setOlder({ busy: false, error: null });
    } catch (failure) {
      setOlder({ busy: false, error: errorMessage(failure) });
    }
  };

  const canManage = vehicle.data ? vehicle.data.access !== 'viewer' : false;
  const filtered = kind !== undefined || range !== 'all';
  if (vehicle.status === 'error') return <ErrorBox error={vehicle.error} onRetry={vehicle.reload} />;

  return (
    <>
      {vehicleId && (
        <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
          <Link href="/vehicles">Vehicles</Link> /{' '}
          <Link href={`/vehicles/${vehicleId}`}>{vehicle.data?.name ?? '…'}</Link> / Drives and charges
        </nav>
      )}
      <div className="page-head">
        <h1>Drives and charges{vehicle.data ? ` · ${vehicle.data.name}` : ''}</h1>
        {vehicleId && canManage && <Recording vehicleId={vehicleId} onChange={list.reload} />}
      </div>
      <div className="card row filters" style={{ marginBottom: '1rem', alignItems: 'end', gap: '1rem' }}>
        <SelectField
          label="Kind"
          value={kind ?? 'all'}
          onChange={(v) => setQuery('kind', v)}
          options={kindFilters}
        />
        <SelectField
          label="Time range"
          value={range ?? 'all'}
          onChange={(v) => setQuery('range', v)}
          options={sessionRanges}
        />
      </div>
      {list.status === 'error' && <ErrorBox error={list.error} onRetry={list.reload} />}
      {list.data === undefined ? (
        list.status === 'loading' && <Loading what="Loading drives and charges" />
      ) : list.data.items.length === 0 ? (
        <NoSessions filtered={filtered} scope={!vehicleId ? 'all' : canManage ? 'manager' : 'reader'} />
      ) : (
        <div className="stack" aria-busy={list.status === 'loading'}>
          <div className="card table-wrap sessions-table">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  {!vehicleId && <th scope="col">Vehicle</th>}
                  <th scope="col">Kind</th>
                  <th scope="col">From → to</th>
                  <th scope="col" className="num">
                    Distance
                  </th>
                  <th scope="col" className="num">
                    Duration
                  </th>
                  <th scope="col" className="num">
                    Energy
                  </th>
                  <th scope="col" className="num">
                    Consumption
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((session) => (
                  <SessionRow
                    key={session.id}
                    session={session}
                    vehicleName={vehicleId ? null : (names.get(session.vehicleId) ?? '…')}
                    now={now}
                  />
                ))}
              </tbody>
            </table>
          </div>
          {list.data.nextBefore && (
            <div className="row">
              <Button busy={older.busy} onClick={loadOlder}>
                Older
              </Button>
              {older.error && (
                <span className="field-error" role="alert">
                  {older.error}
                </span>
              )}
            </div>
          )}
        </div>
      )}
    </>
  );
}

/** The recording control on the list of one vehicle; the list is asked again after a change. */
function Recording({ vehicleId, onChange }: { vehicleId: string; onChange: () => void }) {
  const { recording, reload } = useOpenSessions(vehicleId);
  return (
    <div className="row">
      <RecordingControl
        vehicleId={vehicleId}
        recording={recording}
        onChange={() => {
          reload();
          onChange();
        }}
      />
    </div>
  );
}
