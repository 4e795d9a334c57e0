import type { ImportFormat, ImportResult, NativeMessage } from '@tacho/protocol';
import { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Principal } from '../auth/principal.js';
import type { SessionsService } from '../sessions/index.js';
import type { IngestPipeline } from '../telemetry/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { decodeGeojson } from './geojson-import.js';
import { decodeGpx } from './gpx-import.js';
import { type ImportItem, ImportProblem } from './import-items.js';
import { decodeCsv, decodeNdjson } from './lines-import.js';

/** The content types each import format takes (a browser's file upload may say only octet-stream). */
export const IMPORT_CONTENT_TYPES: Record<ImportFormat, readonly string[]> = {
  gpx: ['application/gpx+xml', 'application/xml', 'text/xml', 'application/octet-stream'],
  geojson: ['application/geo+json', 'application/json', 'application/octet-stream'],
  ndjson: ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/octet-stream'],
  csv: ['text/csv', 'application/csv', 'application/octet-stream'],
};

/** Messages handed to the pipeline at once (its per-call limit is far higher; this keeps batches prompt). */
const BATCH = 5000;
/** Batches waiting for their commit at once: the file is read on while the last ones commit. */
const IN_FLIGHT = 4;
const MAX_REASONS = 10;

/** An import that stopped: its problem, and what was stored before it (the message says how much). */
export class ImportFailed extends AppError {
  constructor(
    problem: ImportProblem,
    readonly partial: ImportResult,
  ) {
    const stored =
      partial.stored + partial.duplicates + partial.sessionsCreated === 0
        ? 'nothing was stored'
        : `before it, ${partial.stored} samples were stored (${partial.duplicates} duplicates, ${partial.rejected} refused) and ${partial.sessionsCreated} sessions created`;
    super(problem.status, problem.code, `${problem.message}; ${stored}`);
  }
}

interface TrackSpan {
  name: string | null;
  minMs: number;
  maxMs: number;
  samples: number;
}

/**
 * Imports a file into a vehicle (who manages it): decoded as it streams, its points through the one
 * ingestion pipeline (validation, de-duplication, dead letters) a batch at a time, then each track or run
 * recorded as a manual session (SessionsService.recordImported). Memory holds a few batches, whatever
 * the file's size.
 */
export class ImportService {
  constructor(
    private readonly deps: {
      vehicles: Vehicles;
      sessions: SessionsService;
      pipeline: IngestPipeline;
      logger: Logger;
      maxImportBytes: number;
    },
  ) {}

  /** Who may import into the vehicle (before the body is read): 404 / 403 otherwise. */
  async authorize(actor: Principal, vehicleId: string): Promise<void> {
    await this.deps.vehicles.authorize(actor, 'manage', vehicleId);
  }

  async run(
    actor: Principal,
    vehicleId: string,
    format: ImportFormat,
    body: AsyncIterable<Buffer>,
    options: { name?: string; route: string },
  ): Promise<ImportResult> {
    await this.authorize(actor, vehicleId);
    const result: ImportResult = {
      stored: 0,
      duplicates: 0,
      rejected: 0,
      reasons: [],
      sessionsCreated: 0,
      sessionIds: [],
      events: 0,
      bytes: 0,
    };
    const counted = countBytes(body, this.deps.maxImportBytes, (n) => {
      result.bytes = n;
    });
    const source = { source: `import-${format}`, topic: options.route, vehicleId };
    const tracks = new Map<number, TrackSpan>();
    const inFlight: Promise<void>[] = [];
    let messages: NativeMessage[] = [];
    let spans: Array<{ track: number; tsMs: number } | null> = [];
    let failures: Array<{ reason: string; payload: string }> = [];

    const reason = (text: string) => {
      if (result.reasons.length < MAX_REASONS && !result.reasons.includes(text)) result.reasons.push(text);
    };
    const flush = () => {
      if (messages.length === 0 && failures.length === 0) return;
      const batch = messages;
      const batchSpans = spans;
      const batchFailures = failures;
      messages = [];
      spans = [];
      failures = [];
      inFlight.push(
        this.deps.pipeline.ingest(source, batch, batchFailures).then((r) => {
          result.stored += r.stored;
          result.duplicates += r.duplicates;
          result.rejected += r.rejected.length;
          const refused = new Set<number>();
          for (const x of r.rejected) {
            refused.add(x.index);
            reason(x.reason);
          }
          for (const [i, span] of batchSpans.entries()) {
            if (!span || refused.has(i)) continue;
            const t = tracks.get(span.track);
            if (!t) continue;
            t.samples++;
            t.minMs = Math.min(t.minMs, span.tsMs);
            t.maxMs = Math.max(t.maxMs, span.tsMs);
          }
        }),
      );
    };
    const add = (item: ImportItem) => {
      switch (item.kind) {
        case 'point':
          messages.push(item.message);
          spans.push({ track: item.track, tsMs: item.tsMs });
          if (!tracks.has(item.track))
            tracks.set(item.track, { name: null, minMs: Infinity, maxMs: -Infinity, samples: 0 });
          break;
        case 'event':
          messages.push(item.message);
          spans.push(null);
          result.events++;
          break;
        case 'track': {
          const t = tracks.get(item.track);
          if (t) t.name = item.name;
          else tracks.set(item.track, { name: item.name, minMs: Infinity, maxMs: -Infinity, samples: 0 });
          break;
        }
        case 'refused':
          failures.push({ reason: item.reason, payload: item.payload });
          result.rejected += item.count;
          reason(item.reason);
          break;
      }
    };

    const decoded = decoderFor(format, counted, this.deps.pipeline.maxMessageBytes);
    let problem: ImportProblem | null = null;
    try {
      for await (const items of decoded) {
        for (const item of items) {
          add(item);
          if (messages.length >= BATCH) {
            flush();
            if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
          }
        }
      }
    } catch (error) {
      if (!(error instanceof ImportProblem)) throw error;
      problem = error;
    }
    flush();
    await Promise.all(inFlight);
    // Events refused by the pipeline were counted there; a decoder's refusals counted their points.
    const spansToRecord = [...tracks.values()]
      .filter((t) => t.samples >= 2 && t.maxMs > t.minMs)
      .map((t) => ({
        name: t.name ?? options.name ?? `Imported ${format.toUpperCase()}`,
        startMs: t.minMs,
        endMs: t.maxMs,
      }));
    if (spansToRecord.length > 0) {
      result.sessionIds = await this.deps.sessions.recordImported(actor, vehicleId, spansToRecord);
      result.sessionsCreated = result.sessionIds.length;
    }
    this.deps.logger.info(
      { vehicleId, format, userId: actor.userId, ...result, sessionIds: undefined, problem: problem?.code },
      'import finished',
    );
    if (problem) throw new ImportFailed(problem, result);
    if (result.stored + result.duplicates === 0) {
      const first = result.reasons[0];
      throw new ImportFailed(
        new ImportProblem(
          400,
          first ? 'nothing_imported' : 'empty',
          first ? `nothing to import: ${first}` : 'the file holds no points',
        ),
        result,
      );
    }
    return result;
  }
}

function decoderFor(format: ImportFormat, body: AsyncIterable<Buffer>, maxMessageBytes: number) {
  switch (format) {
    case 'gpx':
      return decodeGpx(body);
    case 'geojson':
      return decodeGeojson(body);
    case 'ndjson':
      return decodeNdjson(body, maxMessageBytes);
    case 'csv':
      return decodeCsv(body, maxMessageBytes);
  }
}

/** The body, counted as it streams; more than `max` bytes stops it with 413. */
async function* countBytes(
  body: AsyncIterable<Buffer>,
  max: number,
  onCount: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  let bytes = 0;
  for await (const chunk of body) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buffer.length;
    onCount(bytes);
    if (bytes > max)
      throw new ImportProblem(
        413,
        'payload_too_large',
        `the file is more than ${max} bytes (TACHO_MAX_IMPORT_BYTES)`,
      );
    yield buffer;
  }
}
