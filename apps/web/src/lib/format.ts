/**
 * Formatting of numbers, units and times for people: units always shown, precision chosen by unit, times
 * in the browser's zone, relative where "how long ago" matters more than the clock time.
 */

import { toDisplay } from './units.js';

const unitLabels: Record<string, string> = {
  pct: '%',
  km: 'km',
  kmh: 'km/h',
  kw: 'kW',
  kwh: 'kWh',
  c: '°C',
  kpa: 'kPa',
  v: 'V',
  a: 'A',
  m: 'm',
  rpm: 'rpm',
  gs: 'g/s',
  deg: '°',
  s: 's',
  ms: 'ms',
  bar: 'bar',
  wh: 'Wh',
  l: 'L',
  mi: 'mi',
  mph: 'mph',
  f: '°F',
  psi: 'psi',
};

/** The unit suffix of a canonical metric key (`speed_kmh` → `kmh`), or null for unitless keys. */
export function unitOf(key: string): string | null {
  const suffix = key.slice(key.lastIndexOf('_') + 1);
  return suffix in unitLabels ? suffix : null;
}

export function unitLabel(unit: string | null | undefined): string {
  if (!unit) return '';
  return unitLabels[unit.toLowerCase()] ?? unit;
}

/** Decimal places that make sense for a unit: whole km/h and %, one decimal for kW and °C, … */
function decimalsFor(unit: string | null, value: number): number {
  switch (unit) {
    case 'pct':
    case 'kmh':
    case 'mph':
    case 'rpm':
    case 'm':
    case 'deg':
      return 0;
    case 'km':
    case 'mi':
      return Math.abs(value) >= 100 ? 0 : 1;
    case 'kw':
    case 'c':
    case 'f':
    case 'psi':
    case 'kwh':
    case 'gs':
      return 1;
    case 'v':
    case 'bar':
      return 2;
    case 'kpa':
      return 0;
    default:
      return Number.isInteger(value) ? 0 : 2;
  }
}

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

/** `formatNumber(12.345, 'kw')` → "12.3". */
export function formatNumber(value: number, unit: string | null = null): string {
  return numberFormat(decimalsFor(unit, value)).format(value);
}

/** A value with its unit: "12.3 kW", "80 %", "true" → "yes"; null → "—". */
export function formatValue(value: unknown, unit: string | null = null): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number') {
    // In the units the user chose (lib/units.ts): km → mi, °C → °F, kPa → bar or psi.
    const shown = toDisplay(value, unit);
    const label = unitLabel(shown.unit);
    return label
      ? `${formatNumber(shown.value, shown.unit)} ${label}`
      : formatNumber(shown.value, shown.unit);
  }
  return String(value).replaceAll('_', ' ');
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/** Absolute date and time in the browser's zone. */
export function formatTime(ms: number | null | undefined): string {
  return ms == null ? '—' : timeFormat.format(ms);
}

export function formatClock(ms: number): string {
  return clockFormat.format(ms);
}

const shortClock = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const shortDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

/** When something started: "10:42" on the same day as `now`, "12 Mar, 10:42" on another. */
export function formatSince(ms: number, now = Date.now()): string {
  const clock = shortClock.format(ms);
  return new Date(ms).toDateString() === new Date(now).toDateString()
    ? clock
    : `${shortDay.format(ms)}, ${clock}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'long' });

/** "5 minutes ago", "yesterday", "in 3 days"; "just now" under ten seconds. */
export function formatRelative(ms: number | null | undefined, now = Date.now()): string {
  if (ms == null) return 'never';
  const diffS = (ms - now) / 1000;
  const abs = Math.abs(diffS);
  if (abs < 10) return 'just now';
  if (abs < 60) return relative.format(Math.round(diffS), 'second');
  if (abs < 3600) return relative.format(Math.round(diffS / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(diffS / 3600), 'hour');
  if (abs < 30 * 86_400) return relative.format(Math.round(diffS / 86_400), 'day');
  return formatTime(ms);
}

/** "1 h 5 min", "42 s": for ages and durations. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Turns `battery_level_pct` into "Battery level" when the catalog has no label for a key. */
export function humanizeKey(key: string): string {
  const unit = unitOf(key);
  const base = unit ? key.slice(0, -(unit.length + 1)) : key;
  const words = base.replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
