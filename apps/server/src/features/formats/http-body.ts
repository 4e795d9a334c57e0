import { JsonBody, oversizedMessages, type TooLargeBody } from '../telemetry/index.js';
import { type DecodeDeadLetter, type Decoded, internalDeadLetter, isRecord } from './decoded.js';

/**
 * What the source formats do with a payload before and around decoding it (decision 0012): one size limit
 * per message whatever the transport, and a decoder that throws never fails the request or the MQTT
 * message with it.
 */

/** Traccar's fields (query and form; `tooLarge` when the form was over its limit), or its JSON body. */
export type OsmandInput = { fields: Record<string, unknown>; tooLarge?: TooLargeBody } | { json: unknown };

/** An HTTP body's value with its messages over the per-message limit taken out, and their dead letters. */
export interface SplitBody {
  readonly value: unknown;
  readonly tooLarge: DecodeDeadLetter[];
  /** The body is one message, and over the limit: nothing of it is stored. */
  readonly whole: boolean;
}

/**
 * Takes the messages over `limit` bytes out of a JSON body, as dead letters. `arrayKey` names where an
 * object body holds its messages (Overland's `locations`); without one, an object body is one message.
 */
export function splitOversized(
  limit: number,
  format: string,
  body: unknown,
  arrayKey: string | null,
): SplitBody {
  if (!(body instanceof JsonBody)) return { value: body, tooLarge: [], whole: false };
  const found = oversizedMessages(body.bytes, limit, arrayKey);
  if (found.length === 0) return { value: body.value, tooLarge: [], whole: false };
  const tooLarge = found.map(({ index, size, from }) => ({
    code: 'too_large' as const,
    reason: `${format}: message ${index} is ${size} bytes, the limit is ${limit}`,
    payload: body.bytes.toString('utf8', from, from + 2048).replace(/\uFFFD+$/, ''),
  }));
  const value = body.value;
  const list = Array.isArray(value)
    ? value
    : isRecord(value) && arrayKey !== null && Array.isArray(value[arrayKey])
      ? (value[arrayKey] as unknown[])
      : null;
  if (list === null) return { value, tooLarge, whole: true };
  const drop = new Set(found.map((f) => f.index));
  const kept = list.filter((_, i) => !drop.has(i));
  return {
    value: Array.isArray(value) ? kept : { ...(value as object), [arrayKey as string]: kept },
    tooLarge,
    whole: false,
  };
}

/** The decoded payload with the body's too-large messages as dead letters (all of it when it was one). */
export function withTooLarge<T extends Decoded>(decoded: T, body: SplitBody): T {
  if (body.tooLarge.length === 0) return decoded;
  if (body.whole) return { ...decoded, messages: [], events: [], deadLetters: body.tooLarge };
  return { ...decoded, deadLetters: [...body.tooLarge, ...decoded.deadLetters] };
}

/**
 * Runs a decoder. Decoders guard each element; a throw outside them (a bug) keeps the whole payload as
 * one dead letter rather than failing the request, or the MQTT message again and again.
 */
export function decodeSafely<T extends Decoded>(
  decode: () => T,
  payload: unknown,
  failed: Omit<T, keyof Decoded>,
): T {
  try {
    return decode();
  } catch (error) {
    return {
      ...failed,
      messages: [],
      events: [],
      deadLetters: [internalDeadLetter(error, payload)],
    } as unknown as T;
  }
}
