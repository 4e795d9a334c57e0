import { metricCatalog, type VehicleState } from '@tacho/protocol';

/** A value with its unit from the catalog: `80 %`, `12.5 km/h`, `on`. */
export function formatValue(metric: string, value: unknown): string {
  const unit = metricCatalog.get(metric)?.unit ?? '';
  let text: string;
  if (typeof value === 'boolean') text = value ? 'on' : 'off';
  else if (typeof value === 'number')
    text = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1);
  else text = String(value);
  return unit && typeof value === 'number' ? `${text} ${unit}` : text;
}

/** `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function formatAgo(tsMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - tsMs) / 1000));
  if (s < 2) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** Rows of text, columns padded to the widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

/** The state of one vehicle as a table: metric (label), value with unit, age. */
export function renderState(title: string, state: VehicleState, nowMs: number): string {
  const lines = [
    `${title} — ${state.connectivity}${state.lastSeenMs ? `, last seen ${formatAgo(state.lastSeenMs, nowMs)}` : ''}`,
  ];
  const rows: string[][] = [['METRIC', 'VALUE', 'UPDATED']];
  for (const metric of Object.keys(state.metrics).sort()) {
    const reading = state.metrics[metric]!;
    rows.push([metric, formatValue(metric, reading.value), formatAgo(reading.ts_ms, nowMs)]);
  }
  if (state.position) {
    const p = state.position;
    rows.push(['position', `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`, formatAgo(p.ts_ms, nowMs)]);
  }
  if (rows.length === 1) lines.push('(no data yet)');
  else lines.push(table(rows));
  return lines.join('\n');
}
