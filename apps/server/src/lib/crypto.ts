import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** A new random identifier for a row. */
export function newId(): string {
  return randomUUID();
}

/** `bytes` of randomness, base64url-encoded (no padding): 32 bytes = 256 bits. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 hex digest: how secrets such as refresh and API tokens are stored (never the secret itself). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two strings. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * A UUID-shaped id derived from its parts (SHA-256 of them joined by NUL): the same whichever run or
 * instance computes it, so derived rows written again are the same rows.
 */
export function stableId(...parts: ReadonlyArray<string | number>): string {
  const h = sha256(parts.join('\u0000'));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
