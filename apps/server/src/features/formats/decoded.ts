import type { NativeMessage } from '@tacho/protocol';
import { boundedJson, errorText } from '../../lib/safe-text.js';

/** Something a device reported that is not a sample: an OwnTracks `lwt` or `transition`, an Overland visit. */
export interface FormatEvent {
  /** `<format>.<kind>`, e.g. `owntracks.transition`. */
  readonly type: string;
  /** Device time, epoch milliseconds (receive time when the device gave none). */
  readonly tsMs: number;
  readonly data: Readonly<Record<string, unknown>>;
}

/** An element the decoder could not read. `reason` starts with the format and names the field. */
export interface DecodeDeadLetter {
  readonly reason: string;
  /** The offending element as received (JSON text or the raw string); the pipeline truncates it. */
  readonly payload: string;
  /** The dead letter's code; `decode_failed` unless said otherwise. */
  readonly code?: 'decode_failed' | 'too_large' | 'internal';
}

/**
 * What every source-format decoder returns. Decoders are pure: a batch with one bad element still yields
 * the good ones, and nothing throws on bad input.
 */
export interface Decoded {
  readonly messages: NativeMessage[];
  readonly events: FormatEvent[];
  readonly deadLetters: DecodeDeadLetter[];
}

export function emptyDecoded(): {
  messages: NativeMessage[];
  events: FormatEvent[];
  deadLetters: DecodeDeadLetter[];
} {
  return { messages: [], events: [], deadLetters: [] };
}

/**
 * JSON text of a value for a dead letter, never throwing (cycles, BigInt, nesting deeper than the stack:
 * then the beginning of it, which is all a dead letter keeps anyway).
 */
export function payloadText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8', 0, DEAD_LETTER_TEXT_CHARS);
  return boundedJson(value, DEAD_LETTER_TEXT_CHARS);
}

/** More than a dead letter keeps (the pipeline truncates to 2 KiB): only what cannot be written whole. */
const DEAD_LETTER_TEXT_CHARS = 4096;

/**
 * The dead letter for an element whose decoding threw (a bug, not bad input): the element is kept, and
 * the decoder goes on with the next one (decision 0012).
 */
export function internalDeadLetter(error: unknown, element: unknown): DecodeDeadLetter {
  return { code: 'internal', reason: `internal: ${errorText(error)}`, payload: payloadText(element) };
}

/** A finite number from a number or a numeric string; null for anything else. */
export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.trim());
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rounds away floating-point noise from unit conversions (e.g. 10 kn → 18.52 km/h, not 18.520000000000003). */
export function round(value: number, digits = 6): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Epoch milliseconds from what phone apps send: epoch seconds, epoch milliseconds (numbers or numeric
 * strings; below 1e11 counts as seconds, i.e. until the year 5138), ISO-8601 with `Z` or an offset
 * (`-0700` or `-07:00`), or `yyyy-MM-dd HH:mm:ss` (UTC, as Traccar reads it). Null when unreadable.
 */
export function parseTimestampMs(value: unknown): number | null {
  const n = toNumber(value);
  if (n !== null) {
    if (n <= 0) return null;
    return Math.round(n < 1e11 ? n * 1000 : n);
  }
  if (typeof value !== 'string') return null;
  let text = value.trim().replace(' ', 'T');
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(text)) return null;
  // `-0700` → `-07:00` (Date.parse wants the colon); no zone at all means UTC, not the server's zone.
  text = text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  if (!/(Z|[+-]\d{2}:\d{2})$/i.test(text)) text += 'Z';
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}
