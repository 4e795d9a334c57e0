import { getHeapSpaceStatistics } from 'node:v8';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CsvWriter, csvField } from './csv-writer.js';
import type { ExportSample } from './sample-pages.js';

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

describe('CSV writer', () => {
  it('writes numbers as numbers, booleans as words, nothing for no value', () => {
    expect([12.5, -3.5, 0, 1e21, 1e-7, true, false, null, undefined, ''].map(csvField)).toEqual([
      '12.5',
      '-3.5',
      '0',
      '1e+21',
      '1e-7',
      'true',
      'false',
      '',
      '',
      '',
    ]);
  });

  it('quotes a comma, a quote or any line break (a lone LF or CR too), doubling quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('a\r\nb')).toBe('"a\r\nb"');
    expect(csvField('a\nb')).toBe('"a\nb"');
    expect(csvField('a\rb')).toBe('"a\rb"');
    expect(csvField('plain text')).toBe('plain text');
  });

  it('formula-escapes strings a spreadsheet would run, not negative numbers', () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    for (const start of ['+', '-', '@', '\t', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20'])
      expect(csvField(`${start}1`)).toBe(`'${start}1`);
    expect(csvField('\r1')).toBe(`"'\r1"`);
    expect(csvField(-1)).toBe('-1');
    expect(csvField('a=b')).toBe('a=b');
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

  it("leaves no garbage in the old generation: numbers bypass V8's number-string cache (issue 19)", () => {
    // Written with String(v), each page of fresh coordinates left ~110 kB of promoted strings behind (a
    // 1 M-sample export grew the old generation by ~100 MB); a full collection in between only lowers it.
    const oldSpace = () =>
      getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
    const writer = new CsvWriter(['speed_kmh', 'battery_level_pct']);
    const page = (p: number) =>
      Array.from({ length: 1000 }, (_, j) => {
        const i = p * 1000 + j;
        return sample(i, { speed_kmh: 40 + i / 7, battery_level_pct: 90 - i / 1e5 });
      });
    for (let p = 0; p < 20; p++) writer.page(page(p));
    const before = oldSpace();
    let bytes = 0;
    for (let p = 20; p < 120; p++) bytes += Buffer.byteLength(writer.page(page(p)));
    expect(bytes).toBeGreaterThan(7_000_000);
    expect(oldSpace() - before).toBeLessThan(3_000_000);
  });
});
