import type { DownsampledSamples } from '@tacho/protocol';
import { useMemo, useState } from 'react';
import { ExportControl } from '../components/export-control.js';
import { Chart } from '../components/lazy.js';
import { Empty, ErrorBox, Loading, SelectField } from '../components/ui.js';
import { client } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { displaySeries, formatMetric, isNumericMetric, metricLabel, metricUnit } from '../lib/metrics.js';
import { Link, navigate, useLocation } from '../lib/router.js';
import { useAsync } from '../lib/use-async.js';

const ranges = [
  { value: 'hour', label: 'Last hour', ms: 3_600_000 },
  { value: 'day', label: 'Last 24 hours', ms: 86_400_000 },
  { value: 'week', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { value: 'month', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { value: 'custom', label: 'Custom', ms: 0 },
] as const;

const defaultMetrics = ['battery_level_pct', 'speed_kmh', 'power_kw'];
/** About one point per horizontal pixel of a laptop-wide chart: more would not be visible. */
const MAX_POINTS = 1000;

/** `datetime-local` works in local time without a zone; these convert to and from epoch ms. */
function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function fromLocalInput(value: string): number | null {
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

/** Lowest, highest and latest value in words: what the chart shows, for people who cannot see it. */
function SeriesSummary({ metric, values }: { metric: string; values: readonly number[] }) {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return (
    <p className="small muted" style={{ margin: 0 }} data-summary={metric}>
      min {formatMetric(metric, min)} · max {formatMetric(metric, max)} · last{' '}
      {formatMetric(metric, values.at(-1))}
    </p>
  );
}

export function HistoryPage({ id }: { id: string }) {
  const { path, search } = useLocation();
  const range = search.get('range') ?? 'day';
  const chosen = search.get('metrics')?.split(',').filter(Boolean) ?? defaultMetrics;
  const customFrom = Number(search.get('from')) || null;
  const customTo = Number(search.get('to')) || null;
  const [now] = useState(() => Date.now());

  const span = useMemo(() => {
    if (range === 'custom' && customFrom && customTo && customFrom < customTo) {
      return { from: customFrom, to: customTo };
    }
    const ms = ranges.find((r) => r.value === range)?.ms || 86_400_000;
    return { from: now - ms, to: now };
  }, [range, customFrom, customTo, now]);

  const setQuery = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    navigate(`${path}?${next}`, { replace: true });
  };

  const vehicle = useAsync(() => client.vehicles.get(id), [id]);
  const state = useAsync(() => client.readings.state(id), [id]);
  const available = useMemo(() => {
    const reported = Object.keys(state.data?.metrics ?? {}).filter(isNumericMetric);
    return [...new Set([...reported, ...chosen])].sort((a, b) =>
      metricLabel(a).localeCompare(metricLabel(b)),
    );
  }, [state.data, chosen]);

  const metricsKey = chosen.join(',');
  const samples = useAsync<DownsampledSamples | null>(async () => {
    if (chosen.length === 0) return null;
    const answer = await client.readings.samples(id, { ...span, metrics: chosen, maxPoints: MAX_POINTS });
    return answer.kind === 'downsampled' ? answer : null;
  }, [id, span.from, span.to, metricsKey]);

  const toggle = (key: string) => {
    const next = chosen.includes(key) ? chosen.filter((k) => k !== key) : [...chosen, key];
    setQuery({ metrics: next.join(',') });
  };

  const zoomTo = (from: number, to: number) =>
    setQuery({ range: 'custom', from: String(Math.round(from)), to: String(Math.round(to)) });

  return (
    <>
      <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
        <Link href="/vehicles">Vehicles</Link> /{' '}
        <Link href={`/vehicles/${id}`}>{vehicle.data?.name ?? '…'}</Link> / History
      </nav>
      <div className="page-head">
        <h1>History{vehicle.data ? ` · ${vehicle.data.name}` : ''}</h1>
        <div className="row" style={{ alignItems: 'end' }}>
          <ExportControl
            what="this range"
            urlFor={(format, units) =>
              client.transfer.vehicleExportUrl(id, {
                format,
                ...(units ? { units } : {}),
                from: Math.round(span.from),
                to: Math.round(span.to),
              })
            }
          />
          {vehicle.data && vehicle.data.access !== 'viewer' && (
            <Link href={`/vehicles/${id}/import`} className="button">
              Import
            </Link>
          )}
        </div>
      </div>
      <div className="card stack" style={{ marginBottom: '1rem' }}>
        <div className="row" style={{ alignItems: 'end', gap: '1rem' }}>
          <SelectField
            label="Time range"
            value={range}
            onChange={(value) =>
              setQuery(
                value === 'custom'
                  ? { range: value, from: String(span.from), to: String(span.to) }
                  : { range: value, from: null, to: null },
              )
            }
            options={ranges}
          />
          {range === 'custom' && (
            <>
              <div className="field">
                <label htmlFor="history-from">From</label>
                <input
                  id="history-from"
                  type="datetime-local"
                  value={toLocalInput(span.from)}
                  onChange={(e) => {
                    const ms = fromLocalInput(e.target.value);
                    if (ms) setQuery({ from: String(ms) });
                  }}
                />
              </div>
              <div className="field">
                <label htmlFor="history-to">To</label>
                <input
                  id="history-to"
                  type="datetime-local"
                  value={toLocalInput(span.to)}
                  onChange={(e) => {
                    const ms = fromLocalInput(e.target.value);
                    if (ms) setQuery({ to: String(ms) });
                  }}
                />
              </div>
            </>
          )}
          <span className="small muted">
            {formatTime(span.from)} – {formatTime(span.to)}
          </span>
        </div>
        <fieldset style={{ border: 0, padding: 0, margin: 0 }}>
          <legend className="small" style={{ fontWeight: 600, marginBottom: '0.25rem' }}>
            Metrics
          </legend>
          <div className="row" style={{ gap: '0.25rem 1rem' }}>
            {available.map((key) => (
              <label key={key} className="row" style={{ gap: '0.3rem' }}>
                <input type="checkbox" checked={chosen.includes(key)} onChange={() => toggle(key)} />
                {metricLabel(key)}
              </label>
            ))}
          </div>
        </fieldset>
        <p className="small muted" style={{ margin: 0 }}>
          Drag across a chart to zoom in; choose a range above to zoom out.
        </p>
      </div>
      {samples.status === 'error' && <ErrorBox error={samples.error} onRetry={samples.reload} />}
      {chosen.length === 0 ? (
        <Empty>Choose at least one metric.</Empty>
      ) : samples.data === undefined ? (
        <Loading what="Loading history" />
      ) : (
        <div className="stack" aria-busy={samples.status === 'loading'}>
          {(samples.data?.series ?? []).map((series) => (
            <section key={series.metric} className="card" aria-label={metricLabel(series.metric)}>
              <div className="row" style={{ justifyContent: 'space-between' }}>
                <h2>{metricLabel(series.metric)}</h2>
                {series.v.length > 0 && <SeriesSummary metric={series.metric} values={series.v} />}
              </div>
              {series.t.length === 0 ? (
                <p className="muted">No data in this range.</p>
              ) : (
                <Chart
                  title={metricLabel(series.metric)}
                  unit={metricUnit(series.metric)}
                  t={series.t}
                  v={displaySeries(series.metric, series.v)}
                  syncKey={`history-${id}`}
                  onZoom={zoomTo}
                  range={span}
                />
              )}
            </section>
          ))}
          {samples.data && (
            <p className="small muted">
              Computed from{' '}
              {samples.data.source === 'raw' ? 'individual samples' : `per-${samples.data.source} aggregates`}
              .
            </p>
          )}
        </div>
      )}
    </>
  );
}
