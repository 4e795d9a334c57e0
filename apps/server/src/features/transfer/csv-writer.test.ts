import { getHeapSpaceStatistics } from 'node:v8';
import type { MetricValue } from '@tacho/protocol';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CsvWriter } from './csv-writer.js';
import { type ExportSample, PAGE_ROWS } from './sample-pages.js';

const T0 = Date.UTC(2026, 4, 2, 7, 0, 0);

function sample(i: number, metrics: ExportSample['metrics'], position = true): ExportSample {
  return {
    tsMs: T0 + i * 1000,
    seq: 0,
    metrics,
    lat: position ? 48.1 + i / 1000 : null,
    lon: position ? -11.5 : null,
    alt_m: position ? 500 : null,
    heading_deg: null,
    speed_kmh: null,
    accuracy_m: null,
  };
}

/** One metric's field as the writer writes it, byte for byte, in a row without position. */
function field(value: MetricValue | undefined): string {
  const metrics: ExportSample['metrics'] = value === undefined ? {} : { x: value };
  const line = new CsvWriter(['x']).page([sample(0, metrics, false)]);
  const prefix = `${new Date(T0).toISOString()},${T0},,,,`;
  expect(line.startsWith(prefix) && line.endsWith('\r\n')).toBe(true);
  return line.slice(prefix.length, -2);
}

describe('CSV writer', () => {
  it('writes numbers as numbers, booleans as words, nothing for no value', () => {
    expect([12.5, -3.5, 0, 1e21, 1e-7, true, false, undefined, ''].map(field)).toEqual([
      '12.5',
      '-3.5',
      '0',
      '1e+21',
      '1e-7',
      'true',
      'false',
      '',
      '',
    ]);
  });

  it('quotes a comma, a quote or any line break (a lone LF or CR too), doubling quotes', () => {
    expect(field('a,b')).toBe('"a,b"');
    expect(field('say "hi"')).toBe('"say ""hi"""');
    expect(field('a\r\nb')).toBe('"a\r\nb"');
    expect(field('a\nb')).toBe('"a\nb"');
    expect(field('a\rb')).toBe('"a\rb"');
    expect(field('plain text')).toBe('plain text');
  });

  it('formula-escapes strings a spreadsheet would run, not negative numbers', () => {
    expect(field('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    for (const start of ['+', '-', '@', '\t', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20'])
      expect(field(`${start}1`)).toBe(`'${start}1`);
    expect(field('\r1')).toBe(`"'\r1"`);
    expect(field(-1)).toBe('-1');
    expect(field('a=b')).toBe('a=b');
  });

  it('writes a header and a row per sample with CRLF line ends, which a CSV reader reads back', () => {
    const writer = new CsvWriter(['speed_kmh', 'gear', 'software_version', 'charging']);
    const text =
      writer.head() +
      writer.page([
        sample(0, { speed_kmh: 50, gear: 'D', software_version: 'v1,\n"beta"', charging: false }),
        sample(1, { speed_kmh: -0.5 }, false),
      ]);
    expect(text.startsWith('ts_iso,ts_ms,lat,lon,alt_m,speed_kmh,gear,software_version,charging\r\n')).toBe(
      true,
    );
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parse(text, { record_delimiter: '\r\n' })).toEqual([
      ['ts_iso', 'ts_ms', 'lat', 'lon', 'alt_m', 'speed_kmh', 'gear', 'software_version', 'charging'],
      [new Date(T0).toISOString(), String(T0), '48.1', '-11.5', '500', '50', 'D', 'v1,\n"beta"', 'false'],
      [new Date(T0 + 1000).toISOString(), String(T0 + 1000), '', '', '', '-0.5', '', '', ''],
    ]);
  });

  it('writes every row of a page, a text repeated from the row before as the library quoted it', () => {
    const gear = (i: number) => (i % 7 < 3 ? 'D' : i % 7 < 5 ? '=R,' : '');
    const samples = Array.from({ length: PAGE_ROWS + 7 }, (_, i) =>
      sample(i, { speed_kmh: i, gear: gear(i) }),
    );
    const rows = parse(new CsvWriter(['speed_kmh', 'gear']).page(samples)) as string[][];
    expect(rows.map((r) => r.slice(5))).toEqual(
      samples.map((_, i) => [String(i), gear(i).startsWith('=') ? `'${gear(i)}` : gear(i)]),
    );
  });

  it("converts to the reader's units and names the columns after them, rounded to 6 decimals", () => {
    const writer = new CsvWriter(['speed_kmh', 'outside_temp_c', 'gear'], {
      distance: 'mi',
      temperature: 'f',
      pressure: 'psi',
    });
    expect(writer.head()).toBe('ts_iso,ts_ms,lat,lon,alt_m,speed_mph,outside_temp_f,gear\r\n');
    const row = (
      parse(writer.page([sample(0, { speed_kmh: 100, outside_temp_c: -3.5, gear: 'P' })])) as string[][]
    )[0]!;
    expect(row.slice(5)).toEqual(['62.137119', '25.7', 'P']);
    expect(row.slice(2, 5)).toEqual(['48.1', '-11.5', '500']);
  });

  it('leaves no garbage in the old generation (issue 19)', () => {
    // Numbers written with String(v) left ~110 kB of promoted strings behind a page of fresh coordinates,
    // and csv-stringify fed whole pages left half-written ones (a 1 M-sample export grew the old
    // generation by ~100 MB); a full collection in between only lowers it.
    const oldSpace = () =>
      getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
    const writer = new CsvWriter(['speed_kmh', 'battery_level_pct']);
    const page = (p: number) =>
      Array.from({ length: PAGE_ROWS }, (_, j) => {
        const i = p * PAGE_ROWS + j;
        return sample(i, { speed_kmh: 40 + i / 7, battery_level_pct: 90 - i / 1e5 });
      });
    for (let p = 0; p < 40; p++) writer.page(page(p));
    const before = oldSpace();
    let bytes = 0;
    for (let p = 40; p < 240; p++) bytes += Buffer.byteLength(writer.page(page(p)));
    expect(bytes).toBeGreaterThan(7_000_000);
    expect(oldSpace() - before).toBeLessThan(3_000_000);
  });
});
