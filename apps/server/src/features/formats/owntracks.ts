import type { MetricValue, NativeMessage, Position } from '@tacho/protocol';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import formatsPlugin from 'ajv-formats';
import nacl from 'tweetnacl';
import { type Decoded, emptyDecoded, internalDeadLetter, isRecord, payloadText } from './decoded.js';
import encryptionSchema from './owntracks/encryption.json' with { type: 'json' };
import messageSchema from './owntracks/message.json' with { type: 'json' };

/**
 * OwnTracks (MQTT `owntracks/<user>/<device>`, HTTP `POST /api/v1/ingest/owntracks`). Every message is
 * checked against the upstream JSON schemas (owntracks/SOURCE.md) first, so what OwnTracks itself calls
 * invalid is a dead letter here too. `location` becomes a sample; `lwt` and `transition` become events;
 * the other types (card, cmd, status, steps, waypoints, …) are valid but carry nothing to store.
 * Reference: https://owntracks.org/booklet/tech/json/
 */

// ajv-formats is CommonJS: under NodeNext its default export arrives as the module object.
const addFormats = (formatsPlugin as unknown as { default: (ajv: Ajv2020) => Ajv2020 }).default;
const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv);
const validateMessage = ajv.compile(messageSchema);
const validateEncrypted = ajv.compile(encryptionSchema);

/** Battery state names of `bs`. */
const BATTERY_STATES = ['unknown', 'unplugged', 'charging', 'full'] as const;

/** Fields of a location copied to raw keys as they are (scalars only); the rest is mapped or skipped. */
const MAPPED_LOCATION_FIELDS = new Set([
  '_type',
  'lat',
  'lon',
  'tst',
  'vel',
  'cog',
  'alt',
  'acc',
  'batt',
  'bs',
]);

export interface OwntracksContext {
  readonly nowMs: number;
  /** The device's encryption secret (as typed in the app), or null when none is configured. */
  readonly secret: string | null;
}

/** The libsodium secretbox key OwnTracks derives from the secret: its UTF-8 bytes, zero-padded to 32. */
export function owntracksKey(secret: string): Uint8Array {
  const key = new Uint8Array(nacl.secretbox.keyLength);
  key.set(Buffer.from(secret, 'utf8').subarray(0, key.length));
  return key;
}

/** Encrypts like the app does (tests and the CLI): base64 of nonce ‖ secretbox(plaintext). */
export function owntracksEncrypt(plaintext: string, secret: string, nonce = nacl.randomBytes(24)): string {
  const box = nacl.secretbox(Buffer.from(plaintext, 'utf8'), nonce, owntracksKey(secret));
  return Buffer.concat([nonce, box]).toString('base64');
}

function decrypt(data: string, secret: string): string | null {
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length < nacl.secretbox.nonceLength + nacl.secretbox.overheadLength) return null;
  const nonce = bytes.subarray(0, nacl.secretbox.nonceLength);
  const box = bytes.subarray(nacl.secretbox.nonceLength);
  const opened = nacl.secretbox.open(box, nonce, owntracksKey(secret));
  return opened ? Buffer.from(opened).toString('utf8') : null;
}

/** The first schema error as a sentence naming the field (`lat must be number`, `tst is missing`). */
function schemaReason(errors: ErrorObject[] | null | undefined): string {
  const error = errors?.find((e) => e.keyword !== 'if') ?? errors?.[0];
  if (!error) return 'message does not match the OwnTracks schema';
  const field = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return `${field ? `${field}.` : ''}${missing} is missing`;
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return `${field || 'message'} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${field || 'message'} ${error.message ?? 'is invalid'}`;
}

/**
 * Decodes one OwnTracks payload: a message, an array of messages, or an encrypted envelope. Each element is
 * judged on its own, so one bad element never loses the others.
 */
export function decodeOwntracks(payload: Buffer | string | unknown, ctx: OwntracksContext): Decoded {
  const out = emptyDecoded();
  let value: unknown = payload;
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    try {
      value = JSON.parse(payload.toString());
    } catch {
      out.deadLetters.push({ reason: 'owntracks: payload is not JSON', payload: payload.toString() });
      return out;
    }
  }
  for (const element of Array.isArray(value) ? value : [value]) {
    // An element whose decoding throws (a bug) is kept as a dead letter; the others go on (decision 0012).
    try {
      decodeElement(element, ctx, out, 0);
    } catch (error) {
      out.deadLetters.push(internalDeadLetter(error, element));
    }
  }
  return out;
}

function decodeElement(
  element: unknown,
  ctx: OwntracksContext,
  out: ReturnType<typeof emptyDecoded>,
  depth: number,
): void {
  const fail = (reason: string) =>
    out.deadLetters.push({ reason: `owntracks: ${reason}`, payload: payloadText(element) });
  if (!isRecord(element)) return void fail('message is not an object');
  if (element._type === 'encrypted') {
    if (!validateEncrypted(element)) return void fail(schemaReason(validateEncrypted.errors));
    if (depth > 0) return void fail('data decrypts to another encrypted message');
    if (!ctx.secret) return void fail('data is encrypted but no key is set for this device');
    const plaintext = decrypt(element.data as string, ctx.secret);
    if (plaintext === null) return void fail('data cannot be decrypted with the device key');
    let inner: unknown;
    try {
      inner = JSON.parse(plaintext);
    } catch {
      return void fail('data decrypts to something that is not JSON');
    }
    for (const e of Array.isArray(inner) ? inner : [inner]) decodeElement(e, ctx, out, depth + 1);
    return;
  }
  if (!validateMessage(element)) return void fail(schemaReason(validateMessage.errors));
  const tst = element.tst as number | undefined;
  switch (element._type) {
    case 'location': {
      const result = decodeLocation(element);
      if (typeof result === 'string') fail(result);
      else out.messages.push(result);
      return;
    }
    case 'lwt':
    case 'transition': {
      const { _type, ...data } = element;
      out.events.push({ type: `owntracks.${_type}`, tsMs: tst && tst > 0 ? tst * 1000 : ctx.nowMs, data });
      return;
    }
    default:
      // Valid, but nothing Tacho records (cards, commands, status reports, steps, waypoints, tours).
      return;
  }
}

function decodeLocation(m: Record<string, unknown>): NativeMessage | string {
  const tst = m.tst as number;
  // The app sends tst 0 when it has no fix time; storing it would date the fix to 1970.
  if (tst <= 0) return 'tst must be a positive epoch second';
  const position: Position = { lat: m.lat as number, lon: m.lon as number };
  if (position.lat < -90 || position.lat > 90) return 'lat is not a latitude';
  if (position.lon < -180 || position.lon > 180) return 'lon is not a longitude';
  const numeric = (name: string): number | undefined | null => {
    const v = m[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  const n: Record<string, number> = {};
  for (const name of ['vel', 'cog', 'alt', 'acc', 'vac', 'batt', 'bs']) {
    const v = numeric(name);
    if (v === null) return `${name} is not a number`;
    if (v !== undefined) n[name] = v;
  }
  if (n.vel !== undefined && n.vel >= 0) position.speed_kmh = n.vel;
  if (n.cog !== undefined && n.cog >= 0) position.heading_deg = n.cog % 360;
  if (n.alt !== undefined) position.alt_m = n.alt;
  if (n.acc !== undefined && n.acc >= 0) position.accuracy_m = n.acc;
  const metrics: Record<string, MetricValue> = {};
  if (n.batt !== undefined && n.batt >= 0) {
    if (n.batt > 100) return 'batt is not a percentage';
    metrics.device_battery_pct = n.batt;
  }
  const raw: Record<string, MetricValue> = {};
  if (n.bs !== undefined) {
    const state = BATTERY_STATES[n.bs];
    if (state === undefined) return 'bs must be 0, 1, 2 or 3';
    raw.battery_state = state;
  }
  if (n.vac !== undefined && n.vac >= 0) raw.vertical_accuracy_m = n.vac;
  for (const [key, value] of Object.entries(m)) {
    if (MAPPED_LOCATION_FIELDS.has(key) || key === 'vac' || key.length > 128) continue;
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string')
      raw[key] = value;
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) raw[key] = value.join(',');
  }
  return {
    ts: tst * 1000,
    position,
    ...(Object.keys(metrics).length > 0 ? { metrics } : {}),
    ...(Object.keys(raw).length > 0 ? { raw } : {}),
  };
}
