import {
  canonicalKeyOf,
  type MetricValue,
  metricCatalog,
  type NativeMessage,
  toCanonical,
} from '@tacho/protocol';
import { parse } from 'csv-parse';
import { type ImportItem, ImportProblem, messageTime, RunSplitter } from './import-items.js';

/**
 * NDJSON and CSV, read as they stream. Their points have no tracks of their own: consecutive points less
 * than RUN_GAP_MS apart form a run, and each run becomes a manual session.
 */

/**
 * NDJSON: one native message per line (what the telemetry route accepts, so an NDJSON export re-imports
 * as it was); a line may also hold an array of them. A line that is not JSON is refused with its number;
 * a line longer than `maxLineBytes` is refused without being held.
 */
export async function* decodeNdjson(
  body: AsyncIterable<Buffer>,
  maxLineBytes: number,
): AsyncGenerator<ImportItem[]> {
  const runs = new RunSplitter();
  let carry: Buffer[] = [];
  let carried = 0;
  let skipping = false;
  let line = 0;
  let items: ImportItem[] = [];

  const handle = (bytes: Buffer) => {
    line++;
    let text = bytes.toString('utf8');
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      items.push({
        kind: 'refused',
        reason: `NDJSON: line ${line} is not valid JSON: ${(error as Error).message}`,
        payload: text.slice(0, 2048),
        count: 1,
      });
      return;
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      const tsMs = messageTime((message as { ts?: unknown } | null)?.ts);
      const { run, started } = runs.runOf(tsMs);
      if (started) items.push({ kind: 'track', track: run, name: null });
      items.push({ kind: 'point', message: message as NativeMessage, tsMs, track: run });
    }
  };

  for await (const chunk of body) {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      if (skipping) {
        skipping = false;
        line++;
      } else if (carried + nl - from > maxLineBytes) {
        refuseLong(++line, carried + nl - from);
      } else {
        const part = chunk.subarray(from, nl);
        handle(carried > 0 ? Buffer.concat([...carry, part]) : part);
      }
      carry = [];
      carried = 0;
      from = nl + 1;
    }
    if (from < chunk.length && !skipping) {
      carry.push(chunk.subarray(from));
      carried += chunk.length - from;
      if (carried > maxLineBytes) {
        refuseLong(line + 1, carried);
        skipping = true;
        carry = [];
        carried = 0;
      }
    }
    if (items.length > 0) {
      yield items;
      items = [];
    }
  }
  if (carried > 0 && !skipping) handle(Buffer.concat(carry));
  if (items.length > 0) yield items;

  function refuseLong(at: number, size: number) {
    items.push({
      kind: 'refused',
      reason: `NDJSON: line ${at} is ${size}${skipping ? '+' : ''} bytes, the limit is ${maxLineBytes}`,
      payload: '',
      count: 1,
    });
  }
}

/** The characters after which a CSV export put a `'` against formula injection. */
const ESCAPED_FORMULA = /^'[=+\-@\t\r]/;
const POSITION_COLUMNS = new Set(['lat', 'lon', 'alt_m', 'heading_deg', 'accuracy_m']);

/**
 * CSV (RFC 4180, csv-parse) with a header row as Tacho exports it: `ts_iso` or `ts_ms` (or both), `lat`,
 * `lon`, `alt_m`, and catalog metrics named with their units. A column that is none of these stops the
 * import before anything is stored (the header names the problem); a value the export escaped against
 * formula injection (`'=…`) is read back without its `'`. A metric named in another unit of the
 * conversion table, as an export in the user's units writes it (`speed_mph`, `tyre_pressure_fl_psi`), is
 * converted back to the catalog's unit.
 */
export async function* decodeCsv(
  body: AsyncIterable<Buffer>,
  maxRecordBytes: number,
): AsyncGenerator<ImportItem[]> {
  const runs = new RunSplitter();
  const records = parse({
    bom: true,
    skip_empty_lines: true,
    max_record_size: maxRecordBytes,
    relax_column_count: true,
  });
  const feeding = (async () => {
    try {
      for await (const chunk of body)
        if (!records.write(chunk)) await new Promise((r) => records.once('drain', r));
      records.end();
    } catch (error) {
      records.destroy(error as Error);
    }
  })();
  let header: string[] | null = null;
  let items: ImportItem[] = [];
  let row = 0;
  try {
    for await (const record of records as AsyncIterable<string[]>) {
      row++;
      if (!header) {
        header = record.map((h) => h.trim());
        const unknown = header.filter(
          (h) =>
            h !== 'ts_iso' &&
            h !== 'ts_ms' &&
            !POSITION_COLUMNS.has(h) &&
            !metricCatalog.has(h) &&
            !metricCatalog.has(canonicalKeyOf(h)?.key ?? ''),
        );
        if (unknown.length > 0)
          throw new ImportProblem(
            400,
            'invalid_csv',
            `CSV: column${unknown.length > 1 ? 's' : ''} ${unknown
              .map((u) => `"${u.slice(0, 40)}"`)
              .slice(0, 5)
              .join(
                ', ',
              )} ${unknown.length > 1 ? 'are' : 'is'} neither ts_iso, ts_ms, lat, lon, alt_m nor a catalog metric`,
          );
        if (!header.includes('ts_ms') && !header.includes('ts_iso'))
          throw new ImportProblem(400, 'invalid_csv', 'CSV: the header has no ts_ms or ts_iso column');
        continue;
      }
      const message = csvMessage(header, record);
      if (typeof message === 'string') {
        items.push({
          kind: 'refused',
          reason: `CSV: row ${row}: ${message}`,
          payload: record.join(',').slice(0, 2048),
          count: 1,
        });
        continue;
      }
      const tsMs = messageTime(message.ts);
      const { run, started } = runs.runOf(tsMs);
      if (started) items.push({ kind: 'track', track: run, name: null });
      items.push({ kind: 'point', message, tsMs, track: run });
      if (items.length >= 1000) {
        yield items;
        items = [];
      }
    }
  } catch (error) {
    if (items.length > 0) yield items;
    if (error instanceof ImportProblem || (error as { status?: number }).status) throw error;
    throw new ImportProblem(400, 'invalid_csv', `CSV: ${(error as Error).message}`);
  } finally {
    records.destroy();
    await feeding;
  }
  if (!header) throw new ImportProblem(400, 'invalid_csv', 'CSV: the file is empty (no header row)');
  if (items.length > 0) yield items;
}

function csvMessage(header: readonly string[], record: readonly string[]): NativeMessage | string {
  let ts: number | string | undefined;
  const position: Record<string, number> = {};
  const metrics: Record<string, MetricValue> = {};
  for (let i = 0; i < header.length; i++) {
    const column = header[i]!;
    let value = record[i]?.trim() ?? '';
    if (value === '') continue;
    if (ESCAPED_FORMULA.test(value)) value = value.slice(1);
    if (column === 'ts_ms') {
      ts = Number(value);
      if (!Number.isInteger(ts)) return `ts_ms "${value.slice(0, 30)}" is not whole epoch milliseconds`;
    } else if (column === 'ts_iso') {
      if (ts === undefined) ts = value;
    } else if (POSITION_COLUMNS.has(column)) {
      const n = Number(value);
      if (!Number.isFinite(n)) return `${column} "${value.slice(0, 30)}" is not a number`;
      position[column] = n;
    } else if (metricCatalog.has(column)) {
      const def = metricCatalog.get(column)!;
      if (def.type === 'number') metrics[column] = Number(value);
      else if (def.type === 'boolean') metrics[column] = value === 'true' || value === '1';
      else metrics[column] = value;
    } else {
      // `speed_mph` and the like (the header check let only convertible ones through).
      const named = canonicalKeyOf(column)!;
      metrics[named.key] = toCanonical(Number(value), named.unit);
    }
  }
  if (ts === undefined) return 'no time (ts_ms or ts_iso)';
  const message: NativeMessage = { ts, seq: 0 };
  if (Object.keys(metrics).length > 0) message.metrics = metrics;
  if (position.lat !== undefined || position.lon !== undefined)
    message.position = position as NativeMessage['position'];
  return message;
}
