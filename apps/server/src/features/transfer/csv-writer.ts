import { convertibleUnitOf, preferredKey, toPreferred, type UnitPreferences } from '@tacho/protocol';
import { type Options, stringify } from 'csv-stringify/sync';
import { numberText } from './number-text.js';
import type { ExportSample } from './sample-pages.js';

/**
 * csv-stringify decides the quoting of text (issue 19 asks for a well-kept CSV library there):
 * - RFC 4180: CRLF records; a field holding a comma, a quote or a line break is quoted, quotes doubled.
 *   `quote_record_delimiter` also quotes a lone LF or CR: with a record delimiter of its own the library
 *   only quotes that delimiter by default, and a reader splits the row at a bare LF or CR.
 * - `escape_formulas` (OWASP "CSV injection"): a string that starts with `=`, `+`, `-`, `@`, tab or CR —
 *   issue 19's list — or the full-width `＝ ＋ － ＠` Apple Numbers normalises gets a leading `'`, so a
 *   spreadsheet shows it instead of running it.
 */
const OPTIONS: Options = { record_delimiter: 'windows', quote_record_delimiter: true, escape_formulas: true };

/**
 * A string field as csv-stringify writes it (one record of one field, without its CRLF). Numbers, booleans
 * and empty fields never need quoting or escaping and are written by the page loop: whole rows handed to
 * the library, even in 50-row chunks, grew the server by +42 MB RSS over a 1 M-sample export instead of
 * +1–2 MB (`npm run bench:export`, issue 19). Its per-field handling allocates a few hundred bytes (a
 * context, pairs and separator arrays), a few MB a page against an 8 MB young generation (decision 0008).
 */
function textField(value: string): string {
  return stringify([[value]], OPTIONS).slice(0, -2);
}

const number = (v: number | null) => (v === null ? '' : numberText(v));

/**
 * CSV (RFC 4180, quoted by csv-stringify as above): `ts_iso,ts_ms,lat,lon,alt_m,<metric>…`, metric names
 * carrying their units.
 *
 * With `units` (the reader's preferences), distances, speeds, temperatures and pressures are converted
 * and their columns renamed (`speed_kmh` → `speed_mph`), rounded to 6 decimals so a spreadsheet shows no
 * float noise; position columns stay as they are (degrees, `alt_m`). Without, values are as stored.
 */
export class CsvWriter {
  private readonly units: ReadonlyArray<ReturnType<typeof convertibleUnitOf>>;
  /** Per metric, the last string written and its field. */
  private readonly lastValue: Array<string | undefined>;
  private readonly lastText: string[];

  constructor(
    private readonly metrics: readonly string[],
    private readonly preferences: UnitPreferences | null = null,
  ) {
    this.units = metrics.map((m) => (preferences ? convertibleUnitOf(m) : null));
    this.lastValue = metrics.map(() => undefined);
    this.lastText = metrics.map(() => '');
  }

  head(): string {
    const prefs = this.preferences;
    const names = prefs ? this.metrics.map((m) => preferredKey(m, prefs)) : this.metrics;
    return stringify([['ts_iso', 'ts_ms', 'lat', 'lon', 'alt_m', ...names]], OPTIONS);
  }

  page(samples: readonly ExportSample[]): string {
    const { metrics, units, preferences, lastText, lastValue } = this;
    let out = '';
    for (const s of samples) {
      out += `${new Date(s.tsMs).toISOString()},${numberText(s.tsMs)},${number(s.lat)},${number(s.lon)},${number(s.alt_m)}`;
      for (let i = 0; i < metrics.length; i++) {
        const v = s.metrics[metrics[i]!];
        let text: string;
        if (v === undefined) text = '';
        else if (typeof v === 'boolean') text = v ? 'true' : 'false';
        else if (typeof v === 'number') {
          const unit = units[i]!;
          text = numberText(
            unit !== null && preferences
              ? Math.round(toPreferred(v, unit, preferences).value * 1e6) / 1e6
              : v,
          );
        } else if (v === lastValue[i]) text = lastText[i]!;
        else {
          // A text metric (gear, software version) mostly repeats the row before: quote it once.
          text = textField(v);
          lastValue[i] = v;
          lastText[i] = text;
        }
        out += `,${text}`;
      }
      out += '\r\n';
    }
    return out;
  }
}
