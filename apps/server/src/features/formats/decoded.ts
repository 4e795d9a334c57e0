import type { NativeMessage } from '@tacho/protocol';

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

/** JSON text of a value for a dead letter, never throwing (cycles, BigInt). */
export function payloadText(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
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
