import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import { axisWidth, TIME_INCREMENTS_S, timeLabels, valueLabels } from '../lib/axis-labels.js';
import { withGaps } from '../lib/chart-data.js';

export interface ChartProps {
  title: string;
  unit: string;
  /** Epoch ms, ascending; with `x`, plain numbers in its unit, ascending. */
  t: readonly number[];
  v: readonly number[];
  /** Charts with the same key share the crosshair. */
  syncKey?: string;
  /** Called with the selected range (epoch ms) when the user drags to zoom. */
  onZoom?: (fromMs: number, toMs: number) => void;
  /** A chart against something other than time (a charge curve: power against battery level). */
  x?: { label: string; unit: string };
  /** The time span the x axis covers (epoch ms), whatever part of it has data. */
  range?: { from: number; to: number };
}

const legendNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * One metric over time with uPlot: drag to zoom (the page then asks the server for that range at full
 * resolution), double-click to zoom out, crosshair shared between the charts on a page.
 */
export default function Chart({ title, unit, t, v, syncKey, onZoom, x, range }: ChartProps) {
  const element = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoom = useRef(onZoom);
  zoom.current = onZoom;
  // Plain values as dependencies: callers pass `x` as a new object literal on every render.
  const xLabel = x?.label;
  const xUnit = x?.unit;
  const zoomable = onZoom !== undefined;
  const rangeFrom = range?.from;
  const rangeTo = range?.to;

  useEffect(() => {
    const host = element.current;
    if (!host) return;
    const text = cssVar('--muted', '#888');
    const grid = cssVar('--border', '#ddd');
    const accent = cssVar('--accent', '#1f6feb');
    // uPlot's time scale is in seconds; a pause in the data is a break in the line (null).
    const gapped = xUnit !== undefined ? { t: [...t], v: [...v] } : withGaps(t, v);
    const font = `12px ${cssVar('--font', 'system-ui, sans-serif')}`;
    const axis = {
      stroke: text,
      font,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
    };
    const measurer = document.createElement('canvas').getContext('2d');
    const measure = (label: string) => {
      if (!measurer) return label.length * 7;
      measurer.font = font;
      return measurer.measureText(label).width;
    };
    // The labels last drawn, for tests and tools (data-x-labels, data-y-labels).
    const record = (name: 'xLabels' | 'yLabels', labels: string[]) => {
      host.dataset[name] = JSON.stringify(labels);
      return labels;
    };
    const options: uPlot.Options = {
      width: Math.max(300, host.clientWidth),
      height: 240,
      // The page zooms (it asks the server for the dragged span), so uPlot does not zoom by itself.
      cursor: {
        sync: syncKey ? { key: syncKey } : undefined,
        drag: { x: true, y: false, setScale: !zoomable },
      },
      legend: { show: true },
      scales: {
        x:
          rangeFrom !== undefined && rangeTo !== undefined && xUnit === undefined
            ? { time: true, range: () => [rangeFrom / 1000, rangeTo / 1000] }
            : { time: xUnit === undefined },
      },
      axes: [
        xUnit === undefined
          ? {
              ...axis,
              // Whole seconds at least; labels in the browser's locale, with the date past a day.
              incrs: TIME_INCREMENTS_S,
              values: (u: uPlot, ticks: number[]) =>
                record('xLabels', timeLabels(ticks, (u.scales.x?.max ?? 0) - (u.scales.x?.min ?? 0))),
            }
          : {
              ...axis,
              values: (_u: uPlot, ticks: number[]) => record('xLabels', valueLabels(ticks, xUnit)),
            },
        {
          ...axis,
          // As wide as the widest label, so none is clipped ("12,345 km").
          size: (_u: uPlot, values: string[] | null) => {
            const width = axisWidth(values ?? [], measure);
            host.dataset.ySize = String(width);
            return width;
          },
          values: (_u: uPlot, ticks: number[]) => record('yLabels', valueLabels(ticks, unit)),
        },
      ],
      series: [
        xUnit === undefined
          ? {}
          : { label: xLabel, value: (_u, value) => (value == null ? '—' : `${value} ${xUnit}`) },
        {
          label: title,
          stroke: accent,
          width: 2,
          fill: `${accent}22`,
          value: (_u, value) => (value == null ? '—' : `${legendNumber.format(value)} ${unit}`.trim()),
        },
      ],
      hooks: {
        // What the chart really shows, for tests and tools: the x axis's span and the breaks in the line.
        draw: [
          (u) => {
            const min = u.scales.x?.min;
            const max = u.scales.x?.max;
            if (min == null || max == null) return;
            const scale = xUnit === undefined ? 1000 : 1;
            host.dataset.xFrom = String(Math.round(min * scale));
            host.dataset.xTo = String(Math.round(max * scale));
            host.dataset.breaks = String(gapped.v.filter((value) => value === null).length);
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < 5 || xUnit !== undefined) return;
            const from = u.posToVal(u.select.left, 'x');
            const to = u.posToVal(u.select.left + u.select.width, 'x');
            zoom.current?.(Math.round(from * 1000), Math.round(to * 1000));
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
      },
    };
    const data: uPlot.AlignedData = [
      xUnit !== undefined ? gapped.t : gapped.t.map((ms) => ms / 1000),
      gapped.v,
    ];
    const instance = new uPlot(options, data, host);
    plot.current = instance;
    const resize = new ResizeObserver(() =>
      instance.setSize({ width: Math.max(300, host.clientWidth), height: 240 }),
    );
    resize.observe(host);
    return () => {
      resize.disconnect();
      instance.destroy();
      plot.current = null;
    };
  }, [t, v, title, unit, syncKey, xLabel, xUnit, rangeFrom, rangeTo, zoomable]);

  return <div className="chart" ref={element} role="img" aria-label={`Chart of ${title}`} />;
}
