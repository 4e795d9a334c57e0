import { GPX_TACHO_NAMESPACE, type MetricValue, metricCatalog, type NativeMessage } from '@tacho/protocol';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { eventMessage } from '../formats/index.js';
import { type ImportItem, ImportProblem, MAX_DEPTH, parseXmlTime } from './import-items.js';

/**
 * GPX 1.0 and 1.1, read as it streams (saxes, a strict SAX parser: no DTD processing, no external
 * entities). Each `<trk>` and `<rte>` is a track (a manual session); its points with a `<time>` become
 * samples (position, elevation; speed and course from GPX 1.0's elements or Garmin's
 * TrackPointExtension, heart rate and cadence ignored; Tacho's own `<tacho:metric>` extensions); points
 * without a time are left out, and a track with none is refused as a whole. Waypoints (`<wpt>`) become raw
 * events, not positions. A DOCTYPE (where entity bombs live) and nesting deeper than MAX_DEPTH stop the
 * import.
 */

const GPX_NAMESPACES = new Set([
  'http://www.topografix.com/GPX/1/1',
  'http://www.topografix.com/GPX/1/0',
  '',
]);
const GARMIN_TPX = /^http:\/\/www\.garmin\.com\/xmlschemas\/TrackPointExtension\/v\d$/;
/** Longest text kept of an element (a name, a time, a number). */
const MAX_TEXT = 1024;

interface Point {
  element: 'trkpt' | 'rtept' | 'wpt';
  depth: number;
  lat: number;
  lon: number;
  ele?: number;
  time?: string;
  speedMs?: number;
  course?: number;
  name?: string;
  desc?: string;
  sym?: string;
  type?: string;
  metrics: Record<string, MetricValue>;
  bad?: string;
}

interface Track {
  index: number;
  depth: number;
  element: 'trk' | 'rte';
  name: string | null;
  timed: number;
  untimed: number;
}

export async function* decodeGpx(body: AsyncIterable<Buffer>): AsyncGenerator<ImportItem[]> {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let items: ImportItem[] = [];
  let depth = 0;
  let rootSeen = false;
  let track: Track | null = null;
  let nextTrack = 0;
  let point: Point | null = null;
  /** The element whose text is being read (depth, where to put it), if any. */
  let capture: { depth: number; set: (text: string) => void } | null = null;
  let text = '';

  const where = () => `line ${parser.line}, column ${parser.column}`;
  const num = (value: string | undefined): number =>
    value === undefined ? Number.NaN : Number(value.trim());

  parser.on('doctype', () => {
    throw new ImportProblem(
      400,
      'gpx_doctype',
      `GPX: a DOCTYPE is not accepted (${where()}): entity declarations can expand without bound (an XML bomb)`,
    );
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    depth++;
    if (depth > MAX_DEPTH)
      throw new ImportProblem(
        400,
        'gpx_too_deep',
        `GPX: elements nested deeper than ${MAX_DEPTH} levels (${where()})`,
      );
    const gpx = GPX_NAMESPACES.has(tag.uri);
    if (!rootSeen) {
      rootSeen = true;
      if (tag.local !== 'gpx' || !gpx)
        throw new ImportProblem(
          400,
          'not_gpx',
          `GPX: the root element is <${tag.name.slice(0, 40)}>, not <gpx>`,
        );
      return;
    }
    if (capture) return;
    if (gpx && (tag.local === 'trk' || tag.local === 'rte') && depth === 2) {
      track = { index: nextTrack++, depth, element: tag.local, name: null, timed: 0, untimed: 0 };
      return;
    }
    const pointElement =
      gpx &&
      ((tag.local === 'trkpt' && track?.element === 'trk') ||
        (tag.local === 'rtept' && track?.element === 'rte' && depth === 3) ||
        (tag.local === 'wpt' && depth === 2));
    if (pointElement && !point) {
      const lat = num(tag.attributes.lat?.value);
      const lon = num(tag.attributes.lon?.value);
      point = { element: tag.local as Point['element'], depth, lat, lon, metrics: {} };
      if (!Number.isFinite(lat) || !Number.isFinite(lon))
        point.bad = `GPX: a <${tag.local}> without numeric lat and lon attributes (${where()})`;
      return;
    }
    const p = point;
    if (p) {
      if (gpx && depth === p.depth + 1) {
        const set = leafSetter(p, tag.local);
        if (set) capture = { depth, set };
      } else if (GARMIN_TPX.test(tag.uri)) {
        if (tag.local === 'speed') capture = { depth, set: (t) => (p.speedMs = num(t)) };
        else if (tag.local === 'course') capture = { depth, set: (t) => (p.course = num(t)) };
      } else if (tag.uri === GPX_TACHO_NAMESPACE && metricCatalog.has(tag.local)) {
        const key = tag.local;
        capture = { depth, set: (t) => setMetric(p.metrics, key, t) };
      }
      return;
    }
    const t = track;
    if (t && gpx && tag.local === 'name' && depth === t.depth + 1) {
      capture = { depth, set: (value) => (t.name = value.trim().slice(0, 200) || null) };
    }
  });
  parser.on('text', (chunk: string) => {
    if (capture && text.length < MAX_TEXT) text += chunk.slice(0, MAX_TEXT - text.length);
  });
  parser.on('cdata', (chunk: string) => {
    if (capture && text.length < MAX_TEXT) text += chunk.slice(0, MAX_TEXT - text.length);
  });
  parser.on('closetag', () => {
    if (capture && capture.depth === depth) {
      capture.set(text);
      capture = null;
      text = '';
    }
    if (point && point.depth === depth) {
      finishPoint(point);
      point = null;
    } else if (track && track.depth === depth) {
      finishTrack(track);
      track = null;
    }
    depth--;
  });

  const finishPoint = (p: Point) => {
    if (p.bad) {
      items.push({ kind: 'refused', reason: p.bad, payload: JSON.stringify(p), count: 1 });
      return;
    }
    const tsMs = p.time === undefined ? Number.NaN : parseXmlTime(p.time);
    if (p.element === 'wpt') {
      const label = p.name ? `"${p.name.slice(0, 60)}"` : `at ${p.lat}, ${p.lon}`;
      if (Number.isNaN(tsMs)) {
        items.push({
          kind: 'refused',
          reason: `GPX: waypoint ${label} has no valid <time>; samples need a time`,
          payload: JSON.stringify(p),
          count: 1,
        });
        return;
      }
      const data: Record<string, unknown> = { lat: p.lat, lon: p.lon };
      for (const key of ['ele', 'name', 'desc', 'sym', 'type'] as const)
        if (p[key] !== undefined) data[key] = p[key];
      items.push({ kind: 'event', message: eventMessage({ type: 'gpx.waypoint', tsMs, data }) });
      return;
    }
    const t = track!;
    if (Number.isNaN(tsMs)) {
      t.untimed++;
      return;
    }
    t.timed++;
    const position: Record<string, number> = { lat: p.lat, lon: p.lon };
    if (p.ele !== undefined && Number.isFinite(p.ele)) position.alt_m = p.ele;
    if (p.course !== undefined && Number.isFinite(p.course)) position.heading_deg = p.course;
    const metrics = { ...p.metrics };
    if (metrics.speed_kmh === undefined && p.speedMs !== undefined && Number.isFinite(p.speedMs))
      metrics.speed_kmh = Math.round(p.speedMs * 3.6 * 1000) / 1000;
    const message: NativeMessage = { ts: tsMs, seq: 0, position: position as NativeMessage['position'] };
    if (Object.keys(metrics).length > 0) message.metrics = metrics;
    items.push({ kind: 'point', message, tsMs, track: t.index });
  };

  const finishTrack = (t: Track) => {
    const label = t.name ? `"${t.name.slice(0, 60)}"` : `${t.index + 1}`;
    const kind = t.element === 'trk' ? 'track' : 'route';
    if (t.untimed > 0) {
      items.push({
        kind: 'refused',
        reason:
          t.timed === 0
            ? `GPX: ${kind} ${label} has no times: its ${t.untimed} points are refused (samples need a <time>)`
            : `GPX: ${t.untimed} points of ${kind} ${label} have no <time> and are left out`,
        payload: JSON.stringify({ [kind]: t.name, points: t.untimed }),
        count: t.untimed,
      });
    }
    items.push({ kind: 'track', track: t.index, name: t.name });
  };

  const write = (chunk: string) => {
    try {
      parser.write(chunk);
    } catch (error) {
      if (error instanceof ImportProblem) throw error;
      throw new ImportProblem(400, 'invalid_xml', `GPX is not well-formed XML: ${(error as Error).message}`);
    }
  };

  for await (const chunk of body) {
    let textChunk: string;
    try {
      textChunk = decoder.decode(chunk, { stream: true });
    } catch {
      throw new ImportProblem(400, 'invalid_utf8', `GPX: the file is not UTF-8 text (${where()})`);
    }
    try {
      write(textChunk);
    } catch (error) {
      // What was read before the problem is stored, and the reply says how much.
      if (items.length > 0) yield items;
      throw error;
    }
    if (items.length > 0) {
      yield items;
      items = [];
    }
  }
  try {
    write(decoder.decode());
    parser.close();
  } catch (error) {
    if (items.length > 0) yield items;
    if (error instanceof ImportProblem) throw error;
    throw new ImportProblem(400, 'invalid_xml', `GPX is not well-formed XML: ${(error as Error).message}`);
  }
  if (!rootSeen) throw new ImportProblem(400, 'not_gpx', 'GPX: the file is empty');
  if (items.length > 0) yield items;
}

/** Where the text of a GPX child element of a point goes, if anywhere. */
function leafSetter(p: Point, local: string): ((text: string) => void) | null {
  switch (local) {
    case 'ele':
      return (t) => (p.ele = Number(t.trim()));
    case 'time':
      return (t) => (p.time = t);
    case 'speed':
      return (t) => (p.speedMs = Number(t.trim()));
    case 'course':
      return (t) => (p.course = Number(t.trim()));
    case 'name':
    case 'desc':
    case 'sym':
    case 'type':
      return (t) => (p[local] = t.trim().slice(0, 200));
    default:
      return null;
  }
}

/** A metric's value from its text, by the catalog's type (a number, true/false, or the text). */
export function setMetric(metrics: Record<string, MetricValue>, key: string, text: string): void {
  const def = metricCatalog.get(key);
  const t = text.trim();
  if (!def || t === '') return;
  if (def.type === 'number') metrics[key] = Number(t);
  else if (def.type === 'boolean') metrics[key] = t === 'true' || t === '1';
  else metrics[key] = t;
}
