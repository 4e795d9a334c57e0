import { type ComponentProps, lazy, Suspense } from 'react';
import { Spinner } from './ui.js';

// Leaflet and uPlot are fetched only when a page shows a map or a chart, to keep the first load small.
const LazyMap = lazy(() => import('./map-view.js'));
const LazyChart = lazy(() => import('./chart.js'));
const LazyFleetMap = lazy(() => import('./fleet-map.js'));

export function FleetMap(props: ComponentProps<typeof LazyFleetMap>) {
  return (
    <Suspense
      fallback={
        <div className="map fleet">
          <div className="map-fallback">
            <Spinner label="Loading map" />
          </div>
        </div>
      }
    >
      <LazyFleetMap {...props} />
    </Suspense>
  );
}

export function MapView(props: ComponentProps<typeof LazyMap>) {
  return (
    <Suspense
      fallback={
        <div className={props.compact ? 'map small' : 'map'}>
          <div className="map-fallback">
            <Spinner label="Loading map" />
          </div>
        </div>
      }
    >
      <LazyMap {...props} />
    </Suspense>
  );
}

export function Chart(props: ComponentProps<typeof LazyChart>) {
  return (
    <Suspense
      fallback={
        <div className="chart loading">
          <Spinner label="Loading chart" />
        </div>
      }
    >
      <LazyChart {...props} />
    </Suspense>
  );
}
