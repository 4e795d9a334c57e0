import 'leaflet/dist/leaflet.css';
import type { Connectivity } from '@tacho/protocol';
import L from 'leaflet';
import { useEffect, useRef, useState } from 'react';
import { navigate } from '../lib/router.js';

export interface FleetVehicle {
  id: string;
  name: string;
  lat: number;
  lon: number;
  connectivity: Connectivity;
}

export interface FleetMapProps {
  /** Leaflet tile URL template; empty for a plain background. */
  tiles: string;
  vehicles: readonly FleetVehicle[];
}

/** The same colours as the state badges: online green, asleep amber, offline grey. */
const stateColour: Record<Connectivity, string> = {
  online: '#1a7f37',
  asleep: '#9a6700',
  offline: '#6e7781',
};

/**
 * Every visible vehicle with a position on one map, coloured by its state, fitted to them (again when one
 * appears); a click
 * (or Enter on a focused marker) opens the vehicle. Loaded lazily with Leaflet.
 */
export default function FleetMap({ tiles, vehicles }: FleetMapProps) {
  const element = useRef<HTMLElement>(null);
  const map = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  /** The vehicles the map was last fitted to: it fits again when one appears, not as they move. */
  const fitted = useRef('');
  const [tilesFailed, setTilesFailed] = useState(!tiles);

  useEffect(() => {
    if (!element.current) return;
    const m = L.map(element.current, { scrollWheelZoom: false }).setView([20, 0], 2);
    map.current = m;
    if (tiles) {
      let loaded = 0;
      const tileLayer = L.tileLayer(tiles, {
        maxZoom: 19,
        attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
      });
      tileLayer.on('tileload', () => {
        loaded++;
        setTilesFailed(false);
      });
      tileLayer.on('tileerror', () => {
        if (loaded === 0) setTilesFailed(true);
      });
      tileLayer.addTo(m);
    }
    layer.current = L.layerGroup().addTo(m);
    return () => {
      m.remove();
      map.current = null;
      layer.current = null;
      fitted.current = '';
    };
  }, [tiles]);

  useEffect(() => {
    const m = map.current;
    const group = layer.current;
    if (!m || !group) return;
    group.clearLayers();
    for (const v of vehicles) {
      const colour = stateColour[v.connectivity];
      const marker = L.circleMarker([v.lat, v.lon], {
        radius: 9,
        color: '#ffffff',
        weight: 2,
        fillColor: colour,
        fillOpacity: 1,
      })
        .bindTooltip(`${v.name} · ${v.connectivity}`, { permanent: vehicles.length <= 10, direction: 'top' })
        .on('click', () => navigate(`/vehicles/${v.id}`));
      marker.addTo(group);
      const path = marker.getElement();
      if (path) {
        path.setAttribute('role', 'link');
        path.setAttribute('tabindex', '0');
        path.setAttribute('aria-label', `${v.name}, ${v.connectivity}`);
        path.setAttribute('data-vehicle', v.id);
        path.addEventListener('keydown', (event) => {
          if ((event as KeyboardEvent).key === 'Enter') navigate(`/vehicles/${v.id}`);
        });
      }
    }
    const which = vehicles
      .map((v) => v.id)
      .sort()
      .join(',');
    if (which !== fitted.current && vehicles.length > 0) {
      m.fitBounds(L.latLngBounds(vehicles.map((v) => [v.lat, v.lon] as L.LatLngTuple)), {
        padding: [40, 40],
        maxZoom: 14,
        animate: false,
      });
      fitted.current = which;
    }
  }, [vehicles]);

  return (
    <div className="map fleet" style={{ position: 'relative' }}>
      <section ref={element} style={{ height: '100%' }} aria-label="Map of all vehicles" />
      {tilesFailed && (
        <div
          className="small muted"
          style={{ position: 'absolute', left: 8, bottom: 6, zIndex: 500, pointerEvents: 'none' }}
        >
          Map tiles unavailable
        </div>
      )}
    </div>
  );
}
