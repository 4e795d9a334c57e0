import type { VehicleState } from '@tacho/protocol';
import { useEffect, useRef, useState } from 'react';
import { DeviceToken } from '../components/add-vehicle.js';
import { DeepScan } from '../components/deep-scan.js';
import { MapView } from '../components/lazy.js';
import { SessionNow } from '../components/session-now.js';
import { ConnectivityBadge, LiveIndicator } from '../components/status.js';
import { ErrorBox, Loading } from '../components/ui.js';
import { RefusalNotice } from '../components/vehicle-refusals.js';
import { client } from '../lib/api.js';
import { useWebConfig } from '../lib/config.js';
import { connectivityAt, isStale } from '../lib/connectivity.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { useLiveStates, useNow } from '../lib/live.js';
import { formatMetric, metricLabel } from '../lib/metrics.js';
import { Link } from '../lib/router.js';
import { useAsync } from '../lib/use-async.js';
import { describeModel } from '../lib/vehicles.js';

const TRAIL_MS = 60 * 60 * 1000;
const TRAIL_POINTS = 500;

const headline = ['battery_level_pct', 'range_km', 'speed_kmh', 'power_kw'] as const;
const groups: ReadonlyArray<{ title: string; keys: readonly string[] }> = [
  {
    title: 'Charging',
    keys: ['charging_state', 'charger_power_kw', 'charge_limit_pct', 'charge_energy_added_kwh'],
  },
  {
    title: 'Temperatures',
    keys: ['outside_temp_c', 'inside_temp_c', 'battery_temp_c', 'coolant_temp_c'],
  },
  {
    title: 'Tyre pressures',
    keys: ['tyre_pressure_fl_kpa', 'tyre_pressure_fr_kpa', 'tyre_pressure_rl_kpa', 'tyre_pressure_rr_kpa'],
  },
  { title: 'Vehicle', keys: ['odometer_km', 'gear', 'ignition', 'battery_12v_v'] },
];
const shown = new Set<string>([...headline, ...groups.flatMap((g) => g.keys)]);

/** Fraction of a gauge's span, for the metrics that have a natural full scale. */
const gaugeMax: Record<string, number> = { battery_level_pct: 100, speed_kmh: 200, power_kw: 150 };

function Readout({
  metricKey,
  state,
  big,
  now,
  offlineAfterS,
}: {
  metricKey: string;
  state: VehicleState;
  big?: boolean;
  now: number;
  offlineAfterS: number;
}) {
  const reading = state.metrics[metricKey];
  const stale = reading ? isStale(reading.ts_ms, now, offlineAfterS) : false;
  const text = formatMetric(metricKey, reading?.value);
  // Show the unit smaller than the number, as instrument clusters do.
  const split = /^(-?[\d.,\s]+)\s(.+)$/.exec(text);
  const max = gaugeMax[metricKey];
  return (
    <div className={`readout${big ? ' big' : ''}${stale ? ' stale' : ''}`} data-metric={metricKey}>
      <div className="label">{metricLabel(metricKey)}</div>
      <div
        className={typeof reading?.value === 'number' ? 'value' : 'value text'}
        title={reading ? `at ${formatTime(reading.ts_ms)}` : 'no data yet'}
      >
        {split ? (
          <>
            {split[1]}
            <span className="unit">{split[2]}</span>
          </>
        ) : (
          text
        )}
      </div>
      {reading && (
        <div className="age" data-age>
          {formatRelative(reading.ts_ms, now)}
        </div>
      )}
      {max !== undefined && typeof reading?.value === 'number' && (
        <div className="gauge-bar" aria-hidden="true">
          <span style={{ width: `${Math.max(0, Math.min(100, (Math.abs(reading.value) / max) * 100))}%` }} />
        </div>
      )}
    </div>
  );
}

export function VehicleLivePage({ id }: { id: string }) {
  const { mapTiles, offlineAfterS } = useWebConfig();
  const vehicle = useAsync(() => client.vehicles.get(id), [id]);
  const { states, status, errors } = useLiveStates(vehicle.data ? [id] : []);
  const state = states.get(id);
  const now = useNow(1000);
  const [scanOpen, setScanOpen] = useState(false);
  const [connecting, setConnecting] = useState(false);
  const [trail, setTrail] = useState<{ points: Array<readonly [number, number]>; times: number[] }>({
    points: [],
    times: [],
  });
  const lastTs = useRef(0);

  useEffect(() => {
    if (!vehicle.data) return;
    const to = Date.now();
    client.readings.track(id, { from: to - TRAIL_MS, to, maxPoints: TRAIL_POINTS }).then(
      (track) => {
        setTrail({
          points: track.geometry.coordinates.map(([lon, lat]) => [lat ?? 0, lon ?? 0] as const),
          times: track.properties.times_ms,
        });
        lastTs.current = track.properties.times_ms.at(-1) ?? 0;
      },
      () => setTrail({ points: [], times: [] }),
    );
  }, [id, vehicle.data]);

  // Extend the trail with each new live position.
  useEffect(() => {
    const p = state?.position;
    if (!p || p.ts_ms <= lastTs.current) return;
    lastTs.current = p.ts_ms;
    setTrail((t) => ({
      points: [...t.points.slice(-(TRAIL_POINTS - 1)), [p.lat, p.lon] as const],
      times: [...t.times.slice(-(TRAIL_POINTS - 1)), p.ts_ms],
    }));
  }, [state?.position]);

  if (vehicle.status === 'error') return <ErrorBox error={vehicle.error} onRetry={vehicle.reload} />;
  if (!vehicle.data) return <Loading what="Loading vehicle" />;
  const v = vehicle.data;
  // Tiles for what the vehicle has sent, grouped; an EV that sends no coolant temperature shows none.
  const reported = (key: string) => state?.metrics[key] !== undefined;
  const extra = state
    ? Object.keys(state.metrics)
        .filter((k) => !shown.has(k))
        .sort()
    : [];

  return (
    <>
      <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
        <Link href="/vehicles">Vehicles</Link> / {v.name}
      </nav>
      <div className="page-head">
        <div>
          <h1>{v.name}</h1>
          <div className="muted small">
            {describeModel(v)}
            {v.vin && (
              <>
                {' · '}
                <span className="mono">{v.vin}</span>
              </>
            )}
          </div>
        </div>
        <div className="row">
          <LiveIndicator status={status} />
          <ConnectivityBadge connectivity={connectivityAt(state, now, offlineAfterS)} />
          <Link href={`/vehicles/${id}/history`} className="button">
            History
          </Link>
          <Link href={`/vehicles/${id}/sessions`} className="button">
            Drives and charges
          </Link>
          <button type="button" onClick={() => setScanOpen(true)}>
            Deep scan
          </button>
          {v.access !== 'viewer' && (
            <Link href={`/vehicles/${id}/import`} className="button">
              Import
            </Link>
          )}
          {v.access !== 'viewer' && (
            <Link href={`/vehicles/${id}/settings`} className="button">
              Manage vehicle
            </Link>
          )}
          {v.access !== 'viewer' && !connecting && (
            <button type="button" onClick={() => setConnecting(true)}>
              Connect a device
            </button>
          )}
        </div>
      </div>
      {connecting && <DeviceToken vehicle={v} onClose={() => setConnecting(false)} />}
      {errors.get(id) && <ErrorBox error={errors.get(id)} />}
      <RefusalNotice vehicleId={id} initial={v.refusals ?? null} now={now} />
      <SessionNow vehicleId={id} canManage={v.access !== 'viewer'} updatedMs={state?.lastSeenMs} />
      {!state ? (
        <Loading what="Waiting for the current state" />
      ) : (
        <div className="stack">
          <p className="small muted" aria-live="off">
            Last data {formatRelative(state.lastSeenMs, now)}
            {state.lastSeenMs ? ` (${formatTime(state.lastSeenMs)})` : ''}
          </p>
          {Object.keys(state.metrics).length === 0 && (
            <p className="muted">This vehicle has not sent any values yet.</p>
          )}
          <div className="readouts">
            {headline.filter(reported).map((key) => (
              <Readout key={key} metricKey={key} state={state} big now={now} offlineAfterS={offlineAfterS} />
            ))}
          </div>
          <MapView
            tiles={mapTiles}
            position={state.position}
            trail={trail.points}
            trailTimes={trail.times}
            label={`Map of ${v.name}`}
          />
          {groups
            .filter((group) => group.keys.some(reported))
            .map((group) => (
              <section key={group.title} aria-label={group.title}>
                <h2>{group.title}</h2>
                <div className="readouts">
                  {group.keys.filter(reported).map((key) => (
                    <Readout
                      key={key}
                      metricKey={key}
                      state={state}
                      now={now}
                      offlineAfterS={offlineAfterS}
                    />
                  ))}
                </div>
              </section>
            ))}
          {extra.length > 0 && (
            <section aria-label="Other metrics">
              <h2>Other metrics</h2>
              <div className="readouts">
                {extra.map((key) => (
                  <Readout key={key} metricKey={key} state={state} now={now} offlineAfterS={offlineAfterS} />
                ))}
              </div>
            </section>
          )}
        </div>
      )}
      {scanOpen && <DeepScan vehicle={v} onClose={() => setScanOpen(false)} />}
    </>
  );
}
