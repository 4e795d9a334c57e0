import type { VehicleState, VehicleView } from '@tacho/protocol';
import { useMemo, useState } from 'react';
import { AddVehicle } from '../components/add-vehicle.js';
import type { FleetVehicle } from '../components/fleet-map.js';
import { FleetMap, MapView } from '../components/lazy.js';
import { ConnectivityBadge, LiveIndicator } from '../components/status.js';
import { Empty, ErrorBox, Loading } from '../components/ui.js';
import { client } from '../lib/api.js';
import { useWebConfig } from '../lib/config.js';
import { connectivityAt } from '../lib/connectivity.js';
import { formatRelative } from '../lib/format.js';
import { useLiveStates, useNow } from '../lib/live.js';
import { formatMetric } from '../lib/metrics.js';
import { Link } from '../lib/router.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';
import { describeModel } from '../lib/vehicles.js';

function VehicleCard({ vehicle, state, now }: { vehicle: VehicleView; state?: VehicleState; now: number }) {
  const { mapTiles, offlineAfterS } = useWebConfig();
  const metric = (key: string) => state?.metrics[key]?.value;
  const battery = metric('battery_level_pct');
  return (
    <article className="card stack" aria-labelledby={`vehicle-${vehicle.id}`} style={{ gap: '0.75rem' }}>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <div>
          <h2 id={`vehicle-${vehicle.id}`} style={{ margin: 0 }}>
            <Link href={`/vehicles/${vehicle.id}`}>{vehicle.name}</Link>
          </h2>
          <div className="muted small">{describeModel(vehicle)}</div>
        </div>
        <ConnectivityBadge connectivity={connectivityAt(state, now, offlineAfterS)} />
      </div>
      <div className="row" style={{ gap: '1.5rem' }}>
        <div>
          <div className="small muted">Battery</div>
          <div style={{ fontSize: '1.4rem', fontWeight: 700 }} data-metric="battery_level_pct">
            {formatMetric('battery_level_pct', battery)}
          </div>
        </div>
        <div>
          <div className="small muted">Range</div>
          <div style={{ fontSize: '1.4rem', fontWeight: 700 }} data-metric="range_km">
            {formatMetric('range_km', metric('range_km'))}
          </div>
        </div>
      </div>
      {metric('charging_state') === 'charging' && (
        <div className="small" data-metric="charging_state">
          Charging
          {typeof metric('charger_power_kw') === 'number' &&
            ` at ${formatMetric('charger_power_kw', metric('charger_power_kw'))}`}
        </div>
      )}
      {typeof battery === 'number' && (
        <div className="gauge-bar" aria-hidden="true">
          <span style={{ width: `${Math.max(0, Math.min(100, battery))}%` }} />
        </div>
      )}
      <MapView
        tiles={mapTiles}
        compact
        position={state?.position ?? null}
        label={`Position of ${vehicle.name}`}
      />
      <div className="small muted">
        Last seen {formatRelative(state?.lastSeenMs, now)}
        {vehicle.vin && (
          <>
            {' · '}
            <span className="mono">{vehicle.vin}</span>
          </>
        )}
      </div>
    </article>
  );
}

export function VehiclesPage() {
  const user = useUser();
  const vehicles = useAsync(() => client.vehicles.list(), []);
  const ids = useMemo(() => (vehicles.data ?? []).map((v) => v.id), [vehicles.data]);
  const { states, status } = useLiveStates(ids);
  const now = useNow();
  const [adding, setAdding] = useState(false);
  const canAdd = user.role !== 'viewer';
  const { mapTiles, offlineAfterS } = useWebConfig();
  // Every vehicle with a position, on one map, in the colour of its state.
  const fleet = useMemo<FleetVehicle[]>(
    () =>
      (vehicles.data ?? []).flatMap((vehicle) => {
        const state = states.get(vehicle.id);
        if (!state?.position) return [];
        return [
          {
            id: vehicle.id,
            name: vehicle.name,
            lat: state.position.lat,
            lon: state.position.lon,
            connectivity: connectivityAt(state, now, offlineAfterS),
          },
        ];
      }),
    [vehicles.data, states, now, offlineAfterS],
  );

  return (
    <>
      <div className="page-head">
        <h1>Vehicles</h1>
        <div className="row">
          {ids.length > 0 && <LiveIndicator status={status} />}
          {canAdd && !adding && (
            <button type="button" className="primary" onClick={() => setAdding(true)}>
              Add vehicle
            </button>
          )}
        </div>
      </div>
      {adding && (
        <AddVehicle
          onClose={() => setAdding(false)}
          onCreated={(vehicle) => vehicles.setData((list) => [...list, vehicle])}
        />
      )}
      {vehicles.status === 'error' && <ErrorBox error={vehicles.error} onRetry={vehicles.reload} />}
      {vehicles.data === undefined ? (
        vehicles.status === 'loading' && <Loading what="Loading vehicles" />
      ) : vehicles.data.length === 0 ? (
        <Empty>
          <p>No vehicles yet.</p>
          {canAdd ? (
            <p>Add one to get a device token and start sending telemetry.</p>
          ) : (
            <p>Ask the owner of a vehicle to share it with you.</p>
          )}
        </Empty>
      ) : (
        <div className="stack">
          {fleet.length > 0 && <FleetMap tiles={mapTiles} vehicles={fleet} />}
          <div className="grid">
            {vehicles.data.map((vehicle) => (
              <VehicleCard key={vehicle.id} vehicle={vehicle} state={states.get(vehicle.id)} now={now} />
            ))}
          </div>
        </div>
      )}
    </>
  );
}
