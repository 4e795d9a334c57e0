/**
 * Chart axis labels as the summaries write numbers and dates: the browser's locale (thousands separators,
 * its date order), whole seconds at most, and an axis wide enough for its longest label.
 */

const numberFormats = new Map<number, Intl.NumberFormat>();
function numberFormat(decimals: number): Intl.NumberFormat {
  let format = numberFormats.get(decimals);
  if (!format) {
    format = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
    numberFormats.set(decimals, format);
  }
  return format;
}

/** Decimals that tell ticks this far apart from each other, and no more (1000, 1500 → 0; 0.5 → 1). */
export function decimalsForStep(step: number): number {
  if (!Number.isFinite(step) || step <= 0 || step >= 1) return 0;
  return Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
}

/** "12,345 km", "0.5 kW": value labels with the locale's separators and the unit. */
export function valueLabels(ticks: readonly number[], unit: string): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  const format = numberFormat(decimalsForStep(step));
  return ticks.map((tick) => `${format.format(tick)} ${unit}`.trim());
}

/**
 * Time labels in the browser's locale for ticks (epoch seconds) over a visible span (seconds): seconds
 * only below ten minutes, the date once the span passes a day, never a fraction of a second.
 */
export function timeLabels(ticks: readonly number[], spanS: number): string[] {
  const withSeconds = spanS < 600;
  const withDate = spanS > 86_400;
  const time = new Intl.DateTimeFormat(undefined, {
    hour: 'numeric',
    minute: '2-digit',
    ...(withSeconds ? { second: '2-digit' } : {}),
  });
  const date = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  const dateTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric' });
  return ticks.map((tick) => {
    const at = new Date(Math.round(tick) * 1000);
    if (!withDate) return time.format(at);
    const midnight = at.getHours() === 0 && at.getMinutes() === 0;
    return spanS > 7 * 86_400 || midnight ? date.format(at) : dateTime.format(at);
  });
}

/** Steps between time ticks, in seconds: whole seconds and up, so no tick falls between two seconds. */
export const TIME_INCREMENTS_S = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
  604_800, 2_592_000, 31_536_000,
];

/** Width (px) an axis needs for its labels at the chart's font, with room for the tick marks. */
export function axisWidth(labels: readonly string[], measure: (text: string) => number): number {
  let widest = 0;
  for (const label of labels) widest = Math.max(widest, measure(label));
  return Math.ceil(widest) + 22;
}
