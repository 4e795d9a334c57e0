import type { NativeMessage } from '@tacho/protocol';

/**
 * What an import decoder yields while it reads a file: points (native messages, each on a track that
 * becomes a manual session, or on none), raw events (waypoints), and refusals it made itself. Decoders
 * read the body as it streams and yield a batch of items per chunk; they throw an ImportProblem for a file
 * they cannot go on reading (malformed, a bomb, too large).
 */
export type ImportItem =
  | { kind: 'point'; message: NativeMessage; tsMs: number; track: number }
  | { kind: 'event'; message: NativeMessage }
  | { kind: 'track'; track: number; name: string | null }
  | { kind: 'refused'; reason: string; payload: string; count: number };

/** A file that cannot be read on: the status (400, 413, 415), a stable code and a sentence naming the problem. */
export class ImportProblem extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ImportProblem';
  }
}

/** Elements or arrays nested deeper than this are a bomb, not a track (issue 19: 10⁶ nested elements). */
export const MAX_DEPTH = 64;

/** A gap longer than this between consecutive points of a CSV or NDJSON file starts a new run (session). */
export const RUN_GAP_MS = 15 * 60_000;

/** Splits points into runs by time gaps: consecutive points closer than RUN_GAP_MS share a run. */
export class RunSplitter {
  private run = -1;
  private lastTs: number | null = null;

  /** The run of a point at `tsMs` (NaN: the current run; the pipeline refuses its time anyway). */
  runOf(tsMs: number): { run: number; started: boolean } {
    if (Number.isNaN(tsMs)) {
      if (this.run >= 0) return { run: this.run, started: false };
      this.run = 0;
      return { run: 0, started: true };
    }
    const started = this.lastTs === null || Math.abs(tsMs - this.lastTs) > RUN_GAP_MS;
    if (started) this.run++;
    this.lastTs = tsMs;
    return { run: this.run, started };
  }
}

/** Epoch milliseconds of a native message's `ts` (a number or ISO-8601), NaN when it is neither. */
export function messageTime(ts: unknown): number {
  if (typeof ts === 'number') return ts;
  if (typeof ts === 'string') return Date.parse(ts);
  return Number.NaN;
}

/**
 * An XML Schema dateTime (GPX `<time>`): with `Z` or an offset, or none (then UTC). NaN when unreadable.
 */
export function parseXmlTime(text: string): number {
  const t = text.trim();
  if (!/^-?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.test(t)) return Number.NaN;
  return Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(t) ? t : `${t}Z`);
}
