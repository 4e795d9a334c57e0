import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';

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
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * One metric over time with uPlot: drag to zoom (the page then asks the server for that range at full
 * resolution), double-click to zoom out, crosshair shared between the charts on a page.
 */
export default function Chart({ title, unit, t, v, syncKey, onZoom, x }: ChartProps) {
  const element = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoom = useRef(onZoom);
  zoom.current = onZoom;
  // Plain values as dependencies: callers pass `x` as a new object literal on every render.
  const xLabel = x?.label;
  const xUnit = x?.unit;

  useEffect(() => {
    const host = element.current;
    if (!host) return;
    const text = cssVar('--muted', '#888');
    const grid = cssVar('--border', '#ddd');
    const accent = cssVar('--accent', '#1f6feb');
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const options: uPlot.Options = {
      width: Math.max(300, host.clientWidth),
      height: 240,
      cursor: { sync: syncKey ? { key: syncKey } : undefined, drag: { x: true, y: false } },
      legend: { show: true },
      scales: { x: { time: xUnit === undefined } },
      axes: [
        xUnit === undefined
          ? axis
          : { ...axis, values: (_u, ticks) => ticks.map((tick) => `${tick} ${xUnit}`) },
        { ...axis, size: 84, values: (_u, ticks) => ticks.map((tick) => `${tick} ${unit}`.trim()) },
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
          value: (_u, value) => (value == null ? '—' : `${Number(value.toFixed(2))} ${unit}`.trim()),
        },
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 5 || xUnit !== undefined) return;
            const from = u.posToVal(u.select.left, 'x');
            const to = u.posToVal(u.select.left + u.select.width, 'x');
            zoom.current?.(Math.round(from * 1000), Math.round(to * 1000));
          },
        ],
      },
    };
    // uPlot's time scale is in seconds.
    const data: uPlot.AlignedData = [xUnit !== undefined ? [...t] : t.map((ms) => ms / 1000), [...v]];
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
  }, [t, v, title, unit, syncKey, xLabel, xUnit]);

  return <div className="chart" ref={element} role="img" aria-label={`Chart of ${title}`} />;
}
