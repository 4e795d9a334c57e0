import {
  convertibleUnitOf,
  type MetricValue,
  preferredKey,
  toPreferred,
  type UnitPreferences,
} from '@tacho/protocol';
import { numberText } from './number-text.js';
import type { ExportSample } from './sample-pages.js';

/** A field that holds one of these is quoted (RFC 4180: a comma, a quote or a line break). */
const NEEDS_QUOTES = /[",\r\n]/;
/**
 * Text a spreadsheet may run as a formula (OWASP "CSV injection"): `=`, `+`, `-`, `@`, tab, CR, and the
 * full-width `＝ ＋ － ＠` that Apple Numbers normalises — the set csv-stringify's `escape_formulas` uses.
 */
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * One CSV field: empty for no value, numbers as JavaScript writes them (a negative number is not a
 * formula), booleans as `true`/`false`, strings formula-escaped with a leading `'`, then quoted when they
 * hold a comma, a quote or a line break (quotes doubled).
 */
export function csvField(value: MetricValue | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return numberText(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const CRLF = '\r\n';
const number = (v: number | null) => (v === null ? '' : numberText(v));

/**
 * CSV (RFC 4180: CRLF line ends, fields as `csvField` writes them): `ts_iso,ts_ms,lat,lon,alt_m,<metric>…`,
 * metric names carrying their units.
 *
 * With `units` (the reader's preferences), distances, speeds, temperatures and pressures are converted
 * and their columns renamed (`speed_kmh` → `speed_mph`), rounded to 6 decimals so a spreadsheet shows no
 * float noise; position columns stay as they are (degrees, `alt_m`). Without, values are as stored.
 *
 * Rows are written straight into the page's string, not through csv-stringify: its per-field handling
 * allocated ~7.5 kB a row, 7.5 MB a 1,000-row page — a whole young generation (`--max-semi-space-size=8`,
 * decision 0008) — so every scavenge caught a page half-written and promoted it, and the old generation
 * filled with dead pages to 3× its live size between full collections (+60 MB RSS in `npm run
 * bench:export`, issue 19).
 */
export class CsvWriter {
  private readonly units: ReadonlyArray<ReturnType<typeof convertibleUnitOf>>;

  constructor(
    private readonly metrics: readonly string[],
    private readonly preferences: UnitPreferences | null = null,
  ) {
    this.units = metrics.map((m) => (preferences ? convertibleUnitOf(m) : null));
  }

  head(): string {
    const prefs = this.preferences;
    const names = prefs ? this.metrics.map((m) => preferredKey(m, prefs)) : this.metrics;
    return ['ts_iso', 'ts_ms', 'lat', 'lon', 'alt_m', ...names].map(csvField).join(',') + CRLF;
  }

  page(samples: readonly ExportSample[]): string {
    const { metrics, units, preferences } = this;
    let out = '';
    for (const s of samples) {
      out += `${new Date(s.tsMs).toISOString()},${numberText(s.tsMs)},${number(s.lat)},${number(s.lon)},${number(s.alt_m)}`;
      for (let i = 0; i < metrics.length; i++) {
        const v = s.metrics[metrics[i]!];
        const unit = units[i]!;
        out += `,${
          unit !== null && typeof v === 'number' && preferences
            ? numberText(Math.round(toPreferred(v, unit, preferences).value * 1e6) / 1e6)
            : csvField(v)
        }`;
      }
      out += CRLF;
    }
    return out;
  }
}
