import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type MetricValue, metricCatalog, type NativeMessage } from '@tacho/protocol';
import { Assembler } from 'stream-json/assembler.js';
import parser from 'stream-json/parser.js';
import { eventMessage } from '../formats/index.js';
import { type ImportItem, ImportProblem, MAX_DEPTH, parseXmlTime } from './import-items.js';

/**
 * A GeoJSON FeatureCollection, read as it streams (stream-json): each feature is assembled on its own, so
 * memory holds one feature, not the file. A LineString (or MultiLineString) with times is a track (a
 * manual session): times from `properties.coordinateProperties.times` (what @tmcw/togeojson writes, and
 * Tacho's export) or `properties.coordTimes` (its older name), per-point metrics from
 * `coordinateProperties.<catalog metric>`; coordinates `[lon, lat, ele?]`. A Point with a time
 * (`properties.time` or `timestamp`) is a raw event, as a GPX waypoint. Anything else is refused with its
 * reason.
 */
export async function* decodeGeojson(body: AsyncIterable<Buffer>): AsyncGenerator<ImportItem[]> {
  const tokens = parser.asStream({ packValues: true, streamValues: false, maxDepth: MAX_DEPTH });
  const source = Readable.from(body, { objectMode: false });
  const piping = pipeline(source, tokens).catch((error: Error) => {
    tokens.destroy(error);
  });
  let depth = 0;
  let topKey: string | null = null;
  let sawType: string | null = null;
  let inFeatures = false;
  let assembler: Assembler | null = null;
  let featureIndex = 0;
  let nextTrack = 0;
  let items: ImportItem[] = [];
  try {
    for await (const token of tokens as AsyncIterable<{ name: string; value?: unknown }>) {
      const { name } = token;
      if (assembler) {
        assembler.consume(token as never);
        if (name === 'startObject' || name === 'startArray') depth++;
        else if (name === 'endObject' || name === 'endArray') depth--;
        if (depth === 2) {
          const feature = assembler.current;
          assembler = null;
          decodeFeature(feature, featureIndex++, () => nextTrack++, items);
          if (items.length >= 1000) {
            yield items;
            items = [];
          }
        }
        continue;
      }
      switch (name) {
        case 'startObject':
        case 'startArray':
          depth++;
          if (depth === 1 && name !== 'startObject')
            throw new ImportProblem(
              400,
              'not_geojson',
              'GeoJSON: the file must be a FeatureCollection object',
            );
          if (depth === 2 && topKey === 'features' && name === 'startArray') inFeatures = true;
          else if (depth === 3 && inFeatures) {
            if (name !== 'startObject')
              throw new ImportProblem(
                400,
                'invalid_geojson',
                `GeoJSON: feature ${featureIndex + 1} is not an object`,
              );
            assembler = new Assembler();
            assembler.consume(token as never);
          }
          break;
        case 'endObject':
        case 'endArray':
          if (depth === 2 && inFeatures) inFeatures = false;
          depth--;
          break;
        case 'keyValue':
          if (depth === 1) topKey = String(token.value);
          break;
        case 'stringValue':
          if (depth === 1 && topKey === 'type') sawType = String(token.value);
          break;
      }
      if (sawType !== null && sawType !== 'FeatureCollection')
        throw new ImportProblem(
          400,
          'not_geojson',
          `GeoJSON: the file is a ${sawType.slice(0, 40)}, not a FeatureCollection`,
        );
    }
    await piping;
  } catch (error) {
    if (items.length > 0) yield items;
    if (error instanceof ImportProblem) throw error;
    const message = (error as Error).message;
    if (error instanceof RangeError && /depth/i.test(message))
      throw new ImportProblem(
        400,
        'invalid_geojson',
        `GeoJSON: arrays or objects nested deeper than ${MAX_DEPTH} levels`,
      );
    if ((error as { status?: number }).status) throw error;
    throw new ImportProblem(400, 'invalid_json', `GeoJSON is not valid JSON: ${message}`);
  } finally {
    source.destroy();
  }
  if (sawType === null)
    throw new ImportProblem(400, 'not_geojson', 'GeoJSON: the file has no "type": "FeatureCollection"');
  if (items.length > 0) yield items;
}

type Json = unknown;
const isRecord = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function decodeFeature(feature: Json, index: number, newTrack: () => number, items: ImportItem[]): void {
  const refuse = (reason: string, count = 1) =>
    items.push({ kind: 'refused', reason, payload: JSON.stringify(feature).slice(0, 2048), count });
  if (!isRecord(feature) || feature.type !== 'Feature')
    return void refuse(`GeoJSON: feature ${index + 1} is not a Feature`);
  const props = isRecord(feature.properties) ? feature.properties : {};
  const label = typeof props.name === 'string' ? `"${props.name.slice(0, 60)}"` : `${index + 1}`;
  const geometry = feature.geometry;
  if (geometry === null) return; // a session without positions: nothing to import
  if (!isRecord(geometry)) return void refuse(`GeoJSON: feature ${label} has no geometry`);
  if (geometry.type === 'Point') {
    const time = props.time ?? props.timestamp;
    const tsMs = typeof time === 'string' ? parseXmlTime(time) : typeof time === 'number' ? time : Number.NaN;
    const c = geometry.coordinates;
    if (!Array.isArray(c) || typeof c[0] !== 'number' || typeof c[1] !== 'number')
      return void refuse(`GeoJSON: Point feature ${label} has no [lon, lat] coordinates`);
    if (Number.isNaN(tsMs))
      return void refuse(`GeoJSON: Point feature ${label} has no time (properties.time)`);
    const data: Record<string, unknown> = { lat: c[1], lon: c[0] };
    if (typeof c[2] === 'number') data.ele = c[2];
    if (typeof props.name === 'string') data.name = props.name.slice(0, 200);
    items.push({ kind: 'event', message: eventMessage({ type: 'geojson.point', tsMs, data }) });
    return;
  }
  let lines: Json[];
  let times: Json[];
  const cp = isRecord(props.coordinateProperties) ? props.coordinateProperties : {};
  const allTimes = cp.times ?? props.coordTimes;
  if (geometry.type === 'LineString') {
    lines = [geometry.coordinates];
    times = [allTimes];
  } else if (geometry.type === 'MultiLineString' && Array.isArray(geometry.coordinates)) {
    lines = geometry.coordinates;
    times = Array.isArray(allTimes) ? allTimes : [];
  } else {
    return void refuse(
      `GeoJSON: feature ${label} is a ${String(geometry.type).slice(0, 30)}, not a track (LineString)`,
    );
  }
  const name = typeof props.name === 'string' ? props.name.slice(0, 200) : null;
  const track = newTrack();
  let timed = 0;
  let untimed = 0;
  let bad = 0;
  let firstBad = '';
  for (const [li, line] of lines.entries()) {
    if (!Array.isArray(line)) continue;
    const lineTimes = times[li];
    for (const [pi, c] of line.entries()) {
      if (!Array.isArray(c) || typeof c[0] !== 'number' || typeof c[1] !== 'number') {
        bad++;
        firstBad ||= `GeoJSON: feature ${label}, point ${pi + 1} is not [lon, lat]`;
        continue;
      }
      const time = Array.isArray(lineTimes) ? lineTimes[pi] : undefined;
      const tsMs =
        typeof time === 'string' ? parseXmlTime(time) : typeof time === 'number' ? time : Number.NaN;
      if (Number.isNaN(tsMs)) {
        untimed++;
        continue;
      }
      timed++;
      const position: Record<string, number> = { lat: c[1], lon: c[0] };
      if (typeof c[2] === 'number') position.alt_m = c[2];
      const message: NativeMessage = { ts: tsMs, seq: 0, position: position as NativeMessage['position'] };
      const metrics: Record<string, MetricValue> = {};
      if (lines.length === 1) {
        for (const [key, values] of Object.entries(cp)) {
          if (!metricCatalog.has(key) || !Array.isArray(values)) continue;
          const v = values[pi];
          if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') metrics[key] = v;
        }
      }
      if (Object.keys(metrics).length > 0) message.metrics = metrics;
      items.push({ kind: 'point', message, tsMs, track });
    }
  }
  if (bad > 0) refuse(firstBad, bad);
  if (untimed > 0)
    refuse(
      timed === 0
        ? `GeoJSON: feature ${label} has no times: its ${untimed} points are refused (properties.coordinateProperties.times)`
        : `GeoJSON: ${untimed} points of feature ${label} have no time and are left out`,
      untimed,
    );
  items.push({ kind: 'track', track, name });
}
