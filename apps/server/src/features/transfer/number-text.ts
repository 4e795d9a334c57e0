/**
 * A number as JavaScript writes it (`String(v)`), through JSON.stringify for finite ones: V8 keeps the
 * strings `String(v)` and `${v}` make in its number-string cache, long enough for a scavenge to promote
 * them, so an export of a million fresh coordinates filled the old generation with ~110 kB of dead
 * strings a page (issue 19); JSON.stringify bypasses the cache, and is faster too.
 */
export function numberText(v: number): string {
  return Number.isFinite(v) ? JSON.stringify(v) : String(v);
}
