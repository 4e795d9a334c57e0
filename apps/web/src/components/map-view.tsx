import 'leaflet/dist/leaflet.css';
import L from 'leaflet';
import { useEffect, useRef, useState } from 'react';
import { splitTrack } from '../lib/chart-data.js';

export interface MapViewProps {
  /** Leaflet tile URL template; empty for a plain background. */
  tiles: string;
  position: { lat: number; lon: number } | null;
  /** Recent positions, oldest first, as [lat, lon]. */
  trail?: ReadonlyArray<readonly [number, number]>;
  /** The time of each trail point (epoch ms): a long pause between two breaks the line. */
  trailTimes?: readonly number[];
  /** A small, non-interactive map for cards. */
  compact?: boolean;
  label: string;
  /** Show the whole trail once it arrives (a recorded session) instead of centring on the position. */
  fit?: boolean;
  /** Where the trail began, marked with a hollow dot. */
  start?: { lat: number; lon: number } | null;
}

/**
 * Leaflet map with the current position and the recent trail. Loaded lazily (Leaflet is most of the
 * weight of a map page). When no tile can load — offline, blocked, a wrong TACHO_MAP_TILES — the map
 * keeps a plain background and says so, and the position and trail still show.
 */
export default function MapView({
  tiles,
  position,
  trail = [],
  trailTimes,
  compact = false,
  label,
  fit = false,
  start = null,
}: MapViewProps) {
  const element = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const marker = useRef<L.CircleMarker | null>(null);
  const startMarker = useRef<L.CircleMarker | null>(null);
  const line = useRef<L.Polyline | null>(null);
  const followed = useRef(false);
  const [tilesFailed, setTilesFailed] = useState(!tiles);

  useEffect(() => {
    if (!element.current) return;
    const m = L.map(element.current, {
      zoomControl: !compact,
      attributionControl: !compact,
      dragging: !compact,
      scrollWheelZoom: false,
      keyboard: !compact,
      doubleClickZoom: !compact,
      touchZoom: !compact,
      boxZoom: !compact,
    }).setView([20, 0], 2);
    map.current = m;
    if (tiles) {
      let loaded = 0;
      let failed = 0;
      const layer = L.tileLayer(tiles, {
        maxZoom: 19,
        attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
      });
      layer.on('tileload', () => {
        loaded++;
        setTilesFailed(false);
      });
      layer.on('tileerror', () => {
        failed++;
        if (loaded === 0 && failed >= 1) setTilesFailed(true);
      });
      layer.addTo(m);
    }
    line.current = L.polyline([], { color: '#1f6feb', weight: 4, opacity: 0.8 }).addTo(m);
    return () => {
      m.remove();
      map.current = null;
      marker.current = null;
      startMarker.current = null;
      line.current = null;
      followed.current = false;
    };
  }, [tiles, compact]);

  useEffect(() => {
    const m = map.current;
    if (!m) return;
    const points = trail.map(([lat, lon]): L.LatLngTuple => [lat, lon]);
    line.current?.setLatLngs(
      trailTimes && trailTimes.length === points.length ? splitTrack(points, trailTimes) : points,
    );
    if (fit && !followed.current && trail.length > 0) {
      m.fitBounds(L.latLngBounds(trail.map(([lat, lon]) => [lat, lon])), { padding: [24, 24], maxZoom: 16 });
      followed.current = true;
    }
    if (start) {
      const at: L.LatLngExpression = [start.lat, start.lon];
      if (startMarker.current) startMarker.current.setLatLng(at);
      else
        startMarker.current = L.circleMarker(at, {
          radius: compact ? 5 : 7,
          color: '#1f6feb',
          weight: 3,
          fillColor: '#ffffff',
          fillOpacity: 1,
        }).addTo(m);
    }
    if (!position) return;
    const at: L.LatLngExpression = [position.lat, position.lon];
    if (!marker.current) {
      marker.current = L.circleMarker(at, {
        radius: compact ? 6 : 8,
        color: '#ffffff',
        weight: 2,
        fillColor: '#1f6feb',
        fillOpacity: 1,
      }).addTo(m);
    } else {
      marker.current.setLatLng(at);
    }
    // Centre once, then only keep the car in view so a person panning around is not yanked back.
    if (!followed.current) {
      m.setView(at, compact ? 13 : 15);
      followed.current = true;
    } else if (!m.getBounds().pad(-0.1).contains(at)) {
      m.panTo(at);
    }
  }, [position, trail, trailTimes, compact, fit, start]);

  return (
    <div className={compact ? 'map small' : 'map'} style={{ position: 'relative' }}>
      <div ref={element} style={{ height: '100%' }} role="img" aria-label={label} />
      {(tilesFailed || !position) && (
        <div
          className="small muted"
          style={{ position: 'absolute', left: 8, bottom: 6, zIndex: 500, pointerEvents: 'none' }}
        >
          {!position ? 'No position yet' : 'Map tiles unavailable'}
        </div>
      )}
    </div>
  );
}
