/**
 * One size limit per message whatever the transport (decision 0012): an MQTT message is at most
 * TACHO_MAX_PAYLOAD_BYTES whatever it holds, and so is every message an HTTP body carries, counted in the
 * bytes as sent. A body larger than the limit is read here once, without parsing, to find the messages
 * in it that exceed it; only such bodies pay for it, and it allocates nothing per message.
 */

/** A message of a body that is larger than the per-message limit: its index, size and where it starts. */
export interface OversizedMessage {
  readonly index: number;
  readonly size: number;
  readonly from: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * The messages of a JSON body (one that `JSON.parse` accepted) larger than `limit` bytes. The messages
 * are the elements of the body's top-level array, or, when the body is an object and `arrayKey` names one
 * of its properties holding an array (`locations` of Overland), that array's elements; otherwise the body
 * is one message.
 */
export function oversizedMessages(
  body: Uint8Array,
  limit: number,
  arrayKey: string | null = null,
): OversizedMessage[] {
  if (body.length <= limit) return [];
  const start = ws(body, 0);
  if (body[start] === OPEN_ARRAY) return oversizedElements(body, start, limit);
  if (body[start] === OPEN_OBJECT && arrayKey !== null) {
    const at = arrayOf(body, start, arrayKey);
    if (at >= 0) return oversizedElements(body, at, limit);
  }
  return [{ index: 0, size: body.length, from: start }];
}

/** The elements larger than `limit` of the array that opens at `p`. */
function oversizedElements(b: Uint8Array, p: number, limit: number): OversizedMessage[] {
  const found: OversizedMessage[] = [];
  p = ws(b, p + 1);
  if (b[p] === CLOSE_ARRAY) return found;
  for (let index = 0; p < b.length; index++) {
    const from = ws(b, p);
    const to = skipValue(b, from);
    if (to - from > limit) found.push({ index, size: to - from, from });
    p = ws(b, to);
    if (b[p++] !== COMMA) break;
  }
  return found;
}

/** Where the array value of `key` in the object that opens at `p` starts; -1 when it is not an array. */
function arrayOf(b: Uint8Array, p: number, key: string): number {
  let found = -1;
  p = ws(b, p + 1);
  while (p < b.length && b[p] === QUOTE) {
    const keyEnd = skipString(b, p);
    const name = keyText(b, p, keyEnd);
    p = ws(b, keyEnd);
    if (b[p] !== COLON) break;
    p = ws(b, p + 1);
    // JSON.parse keeps the last of duplicate keys, and so does this.
    if (name === key) found = b[p] === OPEN_ARRAY ? p : -1;
    p = ws(b, skipValue(b, p));
    if (b[p] !== COMMA) break;
    p = ws(b, p + 1);
  }
  return found;
}

function keyText(b: Uint8Array, from: number, to: number): string {
  const raw = Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('utf8');
  if (!raw.includes('\\')) return raw.slice(1, -1);
  try {
    return JSON.parse(raw) as string;
  } catch {
    return '';
  }
}

/** The end of the value that starts at `p`; nesting is counted, never recursed into. */
function skipValue(b: Uint8Array, p: number): number {
  let depth = 0;
  while (p < b.length) {
    const c = b[p]!;
    if (c === QUOTE) {
      p = skipString(b, p);
      if (depth === 0) return p;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      p++;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (depth === 0) return p;
      p++;
      if (--depth === 0) return p;
    } else if (depth === 0) {
      // A number or a literal: up to the next delimiter.
      while (p < b.length && !isDelimiter(b[p]!)) p++;
      return p;
    } else {
      p++;
    }
  }
  return p;
}

/** The end of the string whose opening quote is at `p` (after its closing quote). */
function skipString(b: Uint8Array, p: number): number {
  p++;
  while (p < b.length) {
    const c = b[p]!;
    if (c === QUOTE) return p + 1;
    p += c === BACKSLASH ? 2 : 1;
  }
  return p;
}

function isDelimiter(c: number): boolean {
  return (
    c === COMMA ||
    c === CLOSE_ARRAY ||
    c === CLOSE_OBJECT ||
    c === 0x20 ||
    c === 0x0a ||
    c === 0x0d ||
    c === 0x09
  );
}

function ws(b: Uint8Array, p: number): number {
  while (p < b.length) {
    const c = b[p];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    p++;
  }
  return p;
}
