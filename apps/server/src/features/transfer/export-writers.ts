import { GPX_TACHO_NAMESPACE, type MetricValue, type SessionStats } from '@tacho/protocol';
import { numberText } from './number-text.js';
import type { ExportSample } from './sample-pages.js';

/**
 * The export formats as text, a page of samples at a time: each writer is fed pages in (time, seq) order
 * and never holds more than the page it is given. CSV's is in csv-writer.ts.
 */

const iso = (ms: number) => new Date(ms).toISOString();

/** The native telemetry message of a stored sample: what `POST /api/v1/vehicles/:vin/telemetry` takes. */
export function nativeMessage(s: ExportSample, metrics: readonly string[] | null): Record<string, unknown> {
  const message: Record<string, unknown> = { ts: s.tsMs, seq: s.seq };
  let kept: Record<string, MetricValue> = s.metrics;
  if (metrics) {
    kept = {};
    for (const m of metrics) if (m in s.metrics) kept[m] = s.metrics[m]!;
  }
  if (Object.keys(kept).length > 0) message.metrics = kept;
  if (s.lat !== null && s.lon !== null) {
    const position: Record<string, number> = { lat: s.lat, lon: s.lon };
    if (s.alt_m !== null) position.alt_m = s.alt_m;
    if (s.heading_deg !== null) position.heading_deg = s.heading_deg;
    if (s.speed_kmh !== null) position.speed_kmh = s.speed_kmh;
    if (s.accuracy_m !== null) position.accuracy_m = s.accuracy_m;
    message.position = position;
  }
  return message;
}

/**
 * NDJSON: one native message per line. A sample with neither metrics nor a position (a raw-only event,
 * whose raw values are kept only as the vehicle's latest raw keys) has nothing to re-import and is left out.
 */
export class NdjsonWriter {
  constructor(private readonly metrics: readonly string[] | null) {}

  page(samples: readonly ExportSample[]): string {
    let out = '';
    for (const s of samples) {
      const message = nativeMessage(s, this.metrics);
      if (message.metrics === undefined && message.position === undefined) continue;
      out += `${JSON.stringify(message)}\n`;
    }
    return out;
  }
}

/**
 * Characters XML 1.0 cannot hold at all, not even as `&#…;` (its `Char` production): C0 controls but tab,
 * LF and CR, U+FFFE, U+FFFF and unpaired surrogates. A vehicle or session name may contain them.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|\p{Cs}/gu;

/** Text as XML character data or attribute value; characters XML cannot hold become U+FFFD. */
export function xmlEscape(text: string): string {
  return text
    .replace(NOT_XML_CHAR, '\uFFFD')
    .replace(/[<>&"']/g, (c) =>
      c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;',
    );
}

/** A number as xsd:decimal, which has no exponent (`1e-7` would not validate). */
function decimal(v: number): string {
  const text = numberText(v);
  return /e/i.test(text) ? v.toFixed(12).replace(/\.?0+$/, '') : text;
}

/** A gap longer than this starts a new track segment (the vehicle was off or out of reach). */
export const SEGMENT_GAP_MS = 15 * 60_000;

/**
 * GPX 1.1 (valid against topografix's schema): one `<trk>` with `<trkseg>`s split at gaps, `<trkpt lat lon>`
 * with `<ele>` and `<time>`, and speed, battery level (and any asked-for metric) as `<tacho:…>` elements
 * in the point's `<extensions>` (namespace `urn:tacho:gpx:1`). Samples without a position are left out.
 */
export class GpxWriter {
  private lastTs: number | null = null;
  private open = false;

  constructor(
    private readonly metrics: readonly string[],
    private readonly meta: {
      name: string;
      desc: string;
      timeMs: number;
      trackName: string;
      trackType: string;
    },
  ) {}

  head(): string {
    const { name, desc, timeMs, trackName, trackType } = this.meta;
    return (
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<gpx version="1.1" creator="Tacho" xmlns="http://www.topografix.com/GPX/1/1" ' +
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
      `xmlns:tacho="${GPX_TACHO_NAMESPACE}" ` +
      'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">\n' +
      `<metadata><name>${xmlEscape(name)}</name><desc>${xmlEscape(desc)}</desc><time>${iso(timeMs)}</time></metadata>\n` +
      `<trk><name>${xmlEscape(trackName)}</name><type>${xmlEscape(trackType)}</type>\n`
    );
  }

  page(samples: readonly ExportSample[]): string {
    let out = '';
    for (const s of samples) {
      if (s.lat === null || s.lon === null) continue;
      if (this.open && this.lastTs !== null && s.tsMs - this.lastTs > SEGMENT_GAP_MS) {
        out += '</trkseg>\n';
        this.open = false;
      }
      if (!this.open) {
        out += '<trkseg>\n';
        this.open = true;
      }
      this.lastTs = s.tsMs;
      // Ingest takes lon 180, GPX 1.1 only [-180, 180): the same meridian, written as -180.
      const lon = s.lon === 180 ? -180 : s.lon;
      out += `<trkpt lat="${decimal(s.lat)}" lon="${decimal(lon)}">`;
      if (s.alt_m !== null) out += `<ele>${decimal(s.alt_m)}</ele>`;
      out += `<time>${iso(s.tsMs)}</time>`;
      let ext = '';
      for (const m of this.metrics) {
        const v = m === 'speed_kmh' ? (s.metrics.speed_kmh ?? s.speed_kmh) : s.metrics[m];
        if (v === undefined || v === null) continue;
        ext += `<tacho:${m}>${typeof v === 'number' ? numberText(v) : xmlEscape(String(v))}</tacho:${m}>`;
      }
      if (ext) out += `<extensions>${ext}</extensions>`;
      out += '</trkpt>\n';
    }
    return out;
  }

  tail(): string {
    return `${this.open ? '</trkseg>\n' : ''}</trk>\n</gpx>\n`;
  }
}

/** A session as a GeoJSON feature's properties: its stats, names and times. */
export function sessionProperties(s: {
  id: string;
  kind: string;
  name: string | null;
  startMs: number;
  endMs: number | null;
  stats: SessionStats;
}): Record<string, unknown> {
  return {
    sessionId: s.id,
    kind: s.kind,
    name: s.name,
    startTime: iso(s.startMs),
    endTime: s.endMs === null ? null : iso(s.endMs),
    ...s.stats,
  };
}

/** GeoJSON coordinates `[lon, lat]` or `[lon, lat, ele]` of a page's positioned samples, comma-joined. */
export function geojsonCoordinates(samples: readonly ExportSample[], first: boolean): string {
  let out = '';
  for (const s of samples) {
    if (s.lat === null || s.lon === null) continue;
    const lonLat = `${numberText(s.lon)},${numberText(s.lat)}`;
    out += `${first ? '' : ','}[${s.alt_m === null ? lonLat : `${lonLat},${numberText(s.alt_m)}`}]`;
    first = false;
  }
  return out;
}

/** The times of a page's positioned samples as JSON strings, comma-joined (`coordinateProperties.times`). */
export function geojsonTimes(samples: readonly ExportSample[], first: boolean): string {
  let out = '';
  for (const s of samples) {
    if (s.lat === null || s.lon === null) continue;
    out += `${first ? '' : ','}"${iso(s.tsMs)}"`;
    first = false;
  }
  return out;
}
