import { metricCatalog } from '@tacho/protocol';
import { formatValue, humanizeKey, unitOf } from './format.js';

/** What a person reads for a canonical metric key: the catalog's label, or the key made readable. */
export function metricLabel(key: string): string {
  return metricCatalog.get(key)?.label ?? humanizeKey(key);
}

/** The value with its unit and a precision that suits the metric. */
export function formatMetric(key: string, value: unknown): string {
  return formatValue(value, unitOf(key));
}

/** Unit symbol for display next to a big number ("km/h"), empty for unitless metrics. */
export function metricUnit(key: string): string {
  return metricCatalog.get(key)?.unit ?? '';
}

/** Whether a metric can be charted. */
export function isNumericMetric(key: string): boolean {
  const type = metricCatalog.get(key)?.type;
  return type === undefined || type === 'number';
}
