import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4, just what the VinFast connector needs: the presigned WebSocket URL for AWS IoT
 * Core (service `iotdevicegateway`, only `host` signed, the session token appended after the signature:
 * IoT's documented WebSocket rule) and the check the test fake runs on it. Decision 0027 says why this is a
 * small signer of our own rather than aws4 or @smithy/signature-v4 (both put the token into the signed
 * query). Tested with AWS's published SigV4 vectors.
 */

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SigV4Request {
  readonly method: string;
  /** Already URI-encoded path, e.g. `/mqtt`. */
  readonly path: string;
  /** Query parameters, unencoded; sorted and encoded here. */
  readonly query: ReadonlyArray<readonly [string, string]>;
  /** Headers to sign (names in any case). */
  readonly headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. */
  readonly payloadHash: string;
  /** `YYYYMMDDTHHMMSSZ`. */
  readonly amzDate: string;
  readonly region: string;
  readonly service: string;
}

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const ALGORITHM = 'AWS4-HMAC-SHA256';

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, in upper-case hex. */
export function awsUriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `20150830T123600Z` for an epoch-milliseconds instant. */
export function amzDateOf(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The epoch milliseconds of a `YYYYMMDDTHHMMSSZ` date, or null when it is not one. */
export function parseAmzDate(value: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isFinite(ms) ? ms : null;
}

function canonicalQuery(query: ReadonlyArray<readonly [string, string]>): string {
  return query
    .map(([k, v]) => [awsUriEncode(k), awsUriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The signed-headers list (`host;x-amz-date`) of a set of headers. */
export function signedHeadersOf(headers: Readonly<Record<string, string>>): string {
  return Object.keys(headers)
    .map((k) => k.toLowerCase())
    .sort()
    .join(';');
}

/** Canonical request, string to sign and signature of a request (SigV4 tasks 1–3). */
export function sigV4Sign(
  req: SigV4Request,
  secretAccessKey: string,
): { canonicalRequest: string; stringToSign: string; signature: string } {
  const headers = Object.entries(req.headers)
    .map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonicalRequest = [
    req.method.toUpperCase(),
    req.path,
    canonicalQuery(req.query),
    ...headers.map(([k, v]) => `${k}:${v}`),
    '',
    headers.map(([k]) => k).join(';'),
    req.payloadHash,
  ].join('\n');
  const day = req.amzDate.slice(0, 8);
  const scope = `${day}/${req.region}/${req.service}/aws4_request`;
  const stringToSign = [
    ALGORITHM,
    req.amzDate,
    scope,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), req.region), req.service), 'aws4_request');
  return { canonicalRequest, stringToSign, signature: hmac(key, stringToSign).toString('hex') };
}

/** The query parameters of a presigned request, before the signature (token excluded: see presignIotUrl). */
function presignQuery(
  accessKeyId: string,
  amzDate: string,
  region: string,
  service: string,
  expiresS: number,
): Array<[string, string]> {
  return [
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${accessKeyId}/${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(expiresS)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
}

/**
 * A presigned GET URL with only `host` signed. With `tokenAfterSignature` (AWS IoT's WebSocket rule) the
 * session token is appended after `X-Amz-Signature` and is not part of what is signed; otherwise it is
 * signed like any query parameter (S3 and most services).
 */
export function presignUrl(opts: {
  readonly url: string;
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  readonly nowMs: number;
  readonly expiresS: number;
  readonly payloadHash?: string;
  readonly tokenAfterSignature?: boolean;
}): string {
  const url = new URL(opts.url);
  const amzDate = amzDateOf(opts.nowMs);
  const query = presignQuery(opts.credentials.accessKeyId, amzDate, opts.region, opts.service, opts.expiresS);
  for (const [k, v] of url.searchParams) query.push([k, v]);
  const token = opts.credentials.sessionToken;
  if (token && !opts.tokenAfterSignature) query.push(['X-Amz-Security-Token', token]);
  const { signature } = sigV4Sign(
    {
      method: 'GET',
      path: url.pathname,
      query,
      headers: { host: url.host },
      payloadHash: opts.payloadHash ?? EMPTY_SHA256,
      amzDate,
      region: opts.region,
      service: opts.service,
    },
    opts.credentials.secretAccessKey,
  );
  let out = `${url.protocol}//${url.host}${url.pathname}?${canonicalQuery(query)}&X-Amz-Signature=${signature}`;
  if (token && opts.tokenAfterSignature) out += `&X-Amz-Security-Token=${awsUriEncode(token)}`;
  return out;
}

/** The AWS IoT Core MQTT-over-WebSocket URL: `wss://<endpoint>/mqtt?…` signed for `iotdevicegateway`. */
export function presignIotUrl(opts: {
  readonly url: string;
  readonly region: string;
  readonly credentials: AwsCredentials;
  readonly nowMs: number;
  readonly expiresS?: number;
}): string {
  return presignUrl({
    url: opts.url,
    region: opts.region,
    service: 'iotdevicegateway',
    credentials: opts.credentials,
    nowMs: opts.nowMs,
    expiresS: opts.expiresS ?? 86_400,
    tokenAfterSignature: true,
  });
}

export type PresignCheck =
  | { ok: true; accessKeyId: string }
  | {
      ok: false;
      reason: 'malformed' | 'unknown_key' | 'missing_token' | 'bad_token' | 'expired' | 'bad_signature';
    };

/**
 * Checks an IoT presigned request the way the gateway does: parameters present, the key known, the session
 * token present and the key's own, the date within its expiry, and the signature over `host` only.
 */
export function verifyIotPresigned(opts: {
  readonly path: string;
  readonly search: URLSearchParams;
  readonly host: string;
  readonly region: string;
  readonly nowMs: number;
  readonly lookup: (accessKeyId: string) => { secretAccessKey: string; sessionToken: string } | null;
}): PresignCheck {
  const q = opts.search;
  const credential = q.get('X-Amz-Credential');
  const amzDate = q.get('X-Amz-Date');
  const expires = Number(q.get('X-Amz-Expires'));
  const signature = q.get('X-Amz-Signature');
  const atMs = amzDate ? parseAmzDate(amzDate) : null;
  if (
    q.get('X-Amz-Algorithm') !== ALGORITHM ||
    !credential ||
    atMs === null ||
    !Number.isInteger(expires) ||
    expires <= 0 ||
    !signature ||
    q.get('X-Amz-SignedHeaders') !== 'host'
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const [accessKeyId, day, region, service, terminator] = credential.split('/');
  if (
    !accessKeyId ||
    day !== amzDate!.slice(0, 8) ||
    region !== opts.region ||
    service !== 'iotdevicegateway' ||
    terminator !== 'aws4_request'
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const known = opts.lookup(accessKeyId);
  if (!known) return { ok: false, reason: 'unknown_key' };
  const token = q.get('X-Amz-Security-Token');
  if (!token) return { ok: false, reason: 'missing_token' };
  if (token !== known.sessionToken) return { ok: false, reason: 'bad_token' };
  if (opts.nowMs > atMs + expires * 1000) return { ok: false, reason: 'expired' };
  const signed: Array<[string, string]> = [];
  for (const [k, v] of q) {
    if (k !== 'X-Amz-Signature' && k !== 'X-Amz-Security-Token') signed.push([k, v]);
  }
  const expected = sigV4Sign(
    {
      method: 'GET',
      path: opts.path,
      query: signed,
      headers: { host: opts.host },
      payloadHash: EMPTY_SHA256,
      amzDate: amzDate!,
      region: opts.region,
      service: 'iotdevicegateway',
    },
    known.secretAccessKey,
  ).signature;
  return expected === signature ? { ok: true, accessKeyId } : { ok: false, reason: 'bad_signature' };
}
