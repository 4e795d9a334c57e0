import { metricCatalog } from '@tacho/protocol';
import { formatValue, humanizeKey, unitLabel, unitOf } from './format.js';
import { toDisplay } from './units.js';

/** What a person reads for a canonical metric key: the catalog's label, or the key made readable. */
export function metricLabel(key: string): string {
  return metricCatalog.get(key)?.label ?? humanizeKey(key);
}

/** The value with its unit and a precision that suits the metric. */
export function formatMetric(key: string, value: unknown): string {
  return formatValue(value, unitOf(key));
}

/** Unit symbol for display next to a big number ("km/h", or "mph" for who reads miles), empty if none. */
export function metricUnit(key: string): string {
  const code = unitOf(key);
  const shown = code ? toDisplay(0, code).unit : null;
  if (shown && shown !== code) return unitLabel(shown);
  return metricCatalog.get(key)?.unit ?? '';
}

/** A series of a metric in the units the user reads (for charts). */
export function displaySeries(key: string, values: readonly number[]): number[] {
  const code = unitOf(key);
  return values.map((value) => toDisplay(value, code).value);
}

/** Whether a metric can be charted. */
export function isNumericMetric(key: string): boolean {
  const type = metricCatalog.get(key)?.type;
  return type === undefined || type === 'number';
}
