/** Text for dead letters and their reasons, from any value, that never throws. */

/**
 * JSON text of any value, at most `maxChars` long, that never throws. `JSON.stringify` recurses once per
 * nesting level and throws past the stack (a fuzzed `[[[[…]]]]` 10,000 deep), on cycles and on BigInt;
 * a dead letter must still show what came. This writes the same text as `JSON.stringify` for what that
 * can write, and for the rest the beginning of it: it stops once `maxChars` are written, so it never
 * nests deeper than `maxChars` levels (each level writes at least one character).
 */
export function boundedJson(value: unknown, maxChars: number): string {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text.length > maxChars ? text.slice(0, maxChars) : text;
    return typeof value;
  } catch {
    // Too deep, cyclic or unserialisable: written piece by piece below.
  }
  const out = new Writer(maxChars);
  try {
    write(value, out);
  } catch (error) {
    if (error !== FULL) return `(unprintable ${Array.isArray(value) ? 'array' : typeof value})`;
  }
  return out.text.slice(0, maxChars);
}

/** Thrown (and caught above) once the text is as long as asked. */
const FULL = Symbol('full');

class Writer {
  text = '';
  constructor(private readonly maxChars: number) {}
  push(piece: string): void {
    this.text += piece;
    if (this.text.length >= this.maxChars) throw FULL;
  }
}

function write(value: unknown, out: Writer): void {
  if (value === null || typeof value !== 'object') {
    out.push(scalar(value) ?? 'null');
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      write(value[i], out);
    }
    out.push(']');
    return;
  }
  out.push('{');
  let first = true;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out.push(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    write(v, out);
  }
  out.push('}');
}

/** A scalar as JSON writes it; undefined where JSON has no text (functions, symbols, undefined). */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}

/** What an error says, for a dead letter's reason: its message, at most 200 characters, never throwing. */
export function errorText(error: unknown): string {
  try {
    return (error instanceof Error ? error.message : String(error)).slice(0, 200);
  } catch {
    return 'unknown error';
  }
}
