import { MAX_METRIC_STRING_LENGTH, type MetricDefinition, metricCatalog } from '@tacho/protocol';
import { latestState, POSITION_FIELDS, replacesNewest } from './batch-rows.js';
import type { FoldedSamples } from './derived-buffer.js';
import { FOLD_FROM_SAMPLES_PER_VEHICLE, NUMBERS, type PackedSamples, sampleAt } from './packed-batch.js';
import { RollupFolder } from './rollups.js';
import { MAX_FUTURE_MS, MAX_MESSAGES_PER_PAYLOAD, MAX_SEQ, MIN_TS_MS, POSITION_RANGES } from './validate.js';

/**
 * The fast path for a large native-format body (an HTTP batch): its bytes are read once, straight into
 * the packed columns and the fold, with no parsed objects in between. `JSON.parse`, validation, the
 * sample objects, re-serialising each sample's metrics and the garbage all that left cost the main thread
 * most of its ~10 µs per sample; this costs a fraction of it.
 *
 * It takes only what it can take exactly: a compact array of messages that are all valid, whose metrics
 * text is already what `JSON.stringify` would write (so the bytes are stored as they came), and whose
 * numbers convert exactly (at most 15 significant digits, no exponent). Anything else, including every
 * invalid message, returns null and the payload takes the general path (decode, validate, dead letters),
 * which gives the same result for what this accepts (fast-native.test.ts compares them).
 */
export function packNativeBody(
  body: Uint8Array,
  vehicleId: string,
  source: string,
  nowMs: number,
  maxMessageBytes: number,
): PackedSamples | null {
  try {
    return new BodyReader(body, nowMs, maxMessageBytes).read(vehicleId, source);
  } catch {
    // FALLBACK, or anything unexpected (a bug): the general path judges each message on its own and
    // dead-letters what it cannot handle, without failing the others (decision 0012).
    return null;
  }
}

/** Thrown (and caught above) wherever the body leaves what the fast path takes. */
const FALLBACK = Symbol('fallback');

enum Kind {
  Number = 0,
  Boolean = 1,
  String = 2,
  Enum = 3,
}

interface MetricEntry {
  readonly index: number;
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly kind: Kind;
  readonly min: number;
  readonly max: number;
  readonly values: readonly Uint8Array[];
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

function hashOf(bytes: Uint8Array, from: number, to: number): number {
  let h = 0;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
  return h;
}

const kinds: Record<MetricDefinition['type'], Kind> = {
  number: Kind.Number,
  boolean: Kind.Boolean,
  string: Kind.String,
  enum: Kind.Enum,
};
const entries: MetricEntry[] = [...metricCatalog.values()].map((def, index) => ({
  index,
  key: def.key,
  bytes: ascii(def.key),
  kind: kinds[def.type],
  min: def.min ?? Number.NEGATIVE_INFINITY,
  max: def.max ?? Number.POSITIVE_INFINITY,
  values: (def.values ?? []).map(ascii),
}));
/** Catalog keys by the hash of their bytes (a match is then compared byte by byte). */
const entriesByHash = new Map<number, MetricEntry[]>();
for (const entry of entries) {
  const hash = hashOf(entry.bytes, 0, entry.bytes.length);
  entriesByHash.set(hash, [...(entriesByHash.get(hash) ?? []), entry]);
}

const TS = ascii('ts');
const SEQ = ascii('seq');
const METRICS = ascii('metrics');
const POSITION = ascii('position');
const POSITION_KEYS = POSITION_FIELDS.map(ascii);
const POSITION_LIMITS = POSITION_FIELDS.map((field) => POSITION_RANGES[field]!);
/** Powers of ten up to 10^22 are exact doubles: m / 10^k is then correctly rounded, as `Number` is. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** Where the metrics bytes are gathered before they become one string; grown as bodies require. */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

class BodyReader {
  private p = 0;
  private readonly end: number;
  /** The current message's metrics, for the fold: catalog entry and value (NaN: not numeric). */
  private metricCount = 0;
  private readonly metricEntries: MetricEntry[] = [];
  private readonly metricValues: number[] = [];
  /** Per catalog entry, the message in which it was last seen (duplicate keys fall back). */
  private readonly seenIn = new Int32Array(entries.length).fill(-1);

  constructor(
    private readonly b: Uint8Array,
    private readonly nowMs: number,
    /** One limit per message whatever the transport: a larger one is refused on the general path. */
    private readonly maxMessageBytes: number,
  ) {
    this.end = b.length;
  }

  read(vehicleId: string, source: string): PackedSamples {
    const b = this.b;
    this.ws();
    if (b[this.p] !== 0x5b) throw FALLBACK;
    this.p++;
    // At most 1,000 messages; each at least `{"ts":…}` long, so the body bounds the count too.
    const capacity = Math.min(MAX_MESSAGES_PER_PAYLOAD, this.end >> 3);
    const numbers = new Float64Array(capacity * NUMBERS).fill(Number.NaN);
    const metricsEnd = new Uint32Array(capacity);
    if (scratch.length < this.end) scratch = Buffer.allocUnsafeSlow(this.end);
    const out = scratch;
    let o = 0;
    const folder = new RollupFolder();
    // The newest sample of each metric (and of the position, last), as `latestState` decides it.
    const newest = new Int32Array(entries.length + 1).fill(-1);
    const newestTs = new Float64Array(entries.length + 1);
    const newestSeq = new Float64Array(entries.length + 1);
    const offer = (w: number, i: number, tsMs: number, seq: number) => {
      if (newest[w]! < 0 || replacesNewest(tsMs, seq, newestTs[w]!, newestSeq[w]!)) {
        newest[w] = i;
        newestTs[w] = tsMs;
        newestSeq[w] = seq;
      }
    };
    let count = 0;
    for (;;) {
      if (count === capacity) throw FALLBACK;
      const at = count * NUMBERS;
      this.ws();
      const from = this.p;
      const metrics = this.message(numbers, at, count);
      if (this.p - from > this.maxMessageBytes) throw FALLBACK;
      const tsMs = numbers[at]!;
      const seq = numbers[at + 1]!;
      numbers[at + 2] = this.nowMs;
      if (metrics.from < 0) {
        out[o++] = 0x7b;
        out[o++] = 0x7d;
      } else {
        for (let i = metrics.from; i < metrics.to; i++) out[o++] = b[i]!;
      }
      metricsEnd[count] = o;
      folder.sample(vehicleId, tsMs);
      for (let m = 0; m < this.metricCount; m++) {
        const entry = this.metricEntries[m]!;
        const value = this.metricValues[m]!;
        if (!Number.isNaN(value)) folder.add(entry.key, value);
        offer(entry.index, count, tsMs, seq);
      }
      if (!Number.isNaN(numbers[at + 3]!)) offer(entries.length, count, tsMs, seq);
      count++;
      this.ws();
      const c = b[this.p++];
      if (c === 0x5d) break;
      if (c !== COMMA) throw FALLBACK;
    }
    this.ws();
    // Fewer than this are not folded (packed-batch.ts), and small bodies cost little the general way.
    if (this.p !== this.end || count < FOLD_FROM_SAMPLES_PER_VEHICLE) throw FALLBACK;
    const part: PackedSamples = {
      count,
      vehicles: [vehicleId],
      vehicle: new Uint32Array(count),
      sources: [source],
      source: new Uint32Array(count),
      // Copied when shorter than reserved: the whole buffer behind a view would cross to the writer.
      numbers: count === capacity ? numbers : numbers.slice(0, count * NUMBERS),
      metrics: out.toString('latin1', 0, o),
      metricsEnd: count === capacity ? metricsEnd : metricsEnd.slice(0, count),
      raw: [],
    };
    // The state rows come from the few samples that are the newest of something, read back whole.
    const winners = [...new Set(newest)].filter((i) => i >= 0).sort((x, y) => x - y);
    const folded: FoldedSamples = {
      state: latestState(winners.map((i) => sampleAt(part, i))),
      ...folder.rows(),
    };
    return { ...part, folded };
  }

  /** One message into its columns; returns where its metrics object lies in the body (-1: none). */
  private message(numbers: Float64Array, at: number, index: number): { from: number; to: number } {
    const b = this.b;
    this.ws();
    if (b[this.p++] !== 0x7b) throw FALLBACK;
    this.metricCount = 0;
    let seen = 0;
    let from = -1;
    let to = -1;
    for (;;) {
      this.ws();
      const key = this.topKey();
      if (seen & key) throw FALLBACK;
      seen |= key;
      this.ws();
      if (b[this.p++] !== COLON) throw FALLBACK;
      this.ws();
      if (key === 1) {
        const ts = this.unsigned(16);
        if (ts < MIN_TS_MS || ts > this.nowMs + MAX_FUTURE_MS) throw FALLBACK;
        numbers[at] = ts;
      } else if (key === 2) {
        const seq = this.unsigned(10);
        if (seq > MAX_SEQ) throw FALLBACK;
        numbers[at + 1] = seq;
      } else if (key === 4) {
        from = this.p;
        this.metrics(index);
        to = this.p;
      } else {
        this.position(numbers, at);
      }
      this.ws();
      const c = b[this.p++];
      if (c === 0x7d) break;
      if (c !== COMMA) throw FALLBACK;
    }
    if (!(seen & 1)) throw FALLBACK;
    if (!(seen & 2)) numbers[at + 1] = 0;
    if (this.metricCount === 0 && !(seen & 8)) throw FALLBACK;
    return { from, to };
  }

  /** A top-level key: 1 ts, 2 seq, 4 metrics, 8 position; anything else falls back. */
  private topKey(): number {
    const [from, to] = this.key();
    if (this.equals(from, to, TS)) return 1;
    if (this.equals(from, to, SEQ)) return 2;
    if (this.equals(from, to, METRICS)) return 4;
    if (this.equals(from, to, POSITION)) return 8;
    throw FALLBACK;
  }

  /** A metrics object with no white space, every key a catalog metric once, every value acceptable. */
  private metrics(index: number): void {
    const b = this.b;
    if (b[this.p++] !== 0x7b) throw FALLBACK;
    if (b[this.p] === 0x7d) {
      this.p++;
      return;
    }
    for (;;) {
      const [from, to] = this.key();
      const entry = this.entryOf(from, to);
      if (this.seenIn[entry.index] === index) throw FALLBACK;
      this.seenIn[entry.index] = index;
      if (b[this.p++] !== COLON) throw FALLBACK;
      this.metricEntries[this.metricCount] = entry;
      this.metricValues[this.metricCount++] = this.metricValue(entry);
      const c = b[this.p++];
      if (c === 0x7d) return;
      if (c !== COMMA) throw FALLBACK;
    }
  }

  /** The value's number for the rollups (booleans 0/1), NaN for text. */
  private metricValue(entry: MetricEntry): number {
    const b = this.b;
    const c = b[this.p]!;
    if (entry.kind === Kind.Number) {
      if (c !== MINUS && (c < ZERO || c > NINE)) throw FALLBACK;
      const value = this.number(true);
      if (value < entry.min || value > entry.max) throw FALLBACK;
      return value;
    }
    if (entry.kind === Kind.Boolean) {
      if (this.literal(TRUE)) return 1;
      if (this.literal(FALSE)) return 0;
      throw FALLBACK;
    }
    if (c !== QUOTE) throw FALLBACK;
    const from = ++this.p;
    // Printable ASCII without escapes: stored as it came, it is what JSON.stringify writes.
    for (;;) {
      const d = b[this.p]!;
      if (d === QUOTE) break;
      if (d < 0x20 || d > 0x7e || d === 0x5c || this.p >= this.end) throw FALLBACK;
      this.p++;
    }
    const to = this.p++;
    if (entry.kind === Kind.String) {
      if (to - from > MAX_METRIC_STRING_LENGTH) throw FALLBACK;
      return Number.NaN;
    }
    for (const value of entry.values) if (this.equals(from, to, value)) return Number.NaN;
    throw FALLBACK;
  }

  private position(numbers: Float64Array, at: number): void {
    const b = this.b;
    if (b[this.p++] !== 0x7b) throw FALLBACK;
    let seen = 0;
    for (;;) {
      this.ws();
      const [from, to] = this.key();
      let f = 0;
      while (f < POSITION_KEYS.length && !this.equals(from, to, POSITION_KEYS[f]!)) f++;
      if (f === POSITION_KEYS.length || seen & (1 << f)) throw FALLBACK;
      seen |= 1 << f;
      this.ws();
      if (b[this.p++] !== COLON) throw FALLBACK;
      this.ws();
      const c = b[this.p]!;
      if (c !== MINUS && (c < ZERO || c > NINE)) throw FALLBACK;
      const value = this.number(false);
      const [min, max] = POSITION_LIMITS[f]!;
      if (value < min || value > max) throw FALLBACK;
      numbers[at + 3 + f] = value;
      this.ws();
      const d = b[this.p++];
      if (d === 0x7d) break;
      if (d !== COMMA) throw FALLBACK;
    }
    if ((seen & 3) !== 3) throw FALLBACK;
  }

  /**
   * A JSON number without exponent and with at most 15 significant digits: exact as m / 10^k. When
   * `canonical`, also written as JSON.stringify writes it (no trailing fractional zero, no -0, not below
   * 10^-6), so its bytes can be stored as they are.
   */
  private number(canonical: boolean): number {
    const b = this.b;
    let negative = false;
    if (b[this.p] === MINUS) {
      negative = true;
      this.p++;
    }
    let c = b[this.p]!;
    if (c < ZERO || c > NINE) throw FALLBACK;
    let mantissa = 0;
    let digits = 0;
    if (c === ZERO) {
      this.p++;
      c = b[this.p]!;
      if (c >= ZERO && c <= NINE) throw FALLBACK;
    } else {
      while (c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        c = b[++this.p]!;
      }
    }
    let scale = 0;
    if (c === DOT) {
      c = b[++this.p]!;
      if (c < ZERO || c > NINE) throw FALLBACK;
      let last = c;
      while (c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        if (mantissa > 0) digits++;
        scale++;
        last = c;
        c = b[++this.p]!;
      }
      if (canonical && last === ZERO) throw FALLBACK;
    }
    if (c === 0x65 || c === 0x45 || digits > 15 || scale > 22) throw FALLBACK;
    const magnitude = scale === 0 ? mantissa : mantissa / POW10[scale]!;
    if (canonical && (magnitude === 0 ? negative : magnitude < 1e-6)) throw FALLBACK;
    return negative ? -magnitude : magnitude;
  }

  /** Whole digits (no sign, fraction or exponent), at most `maxDigits` of them. */
  private unsigned(maxDigits: number): number {
    const b = this.b;
    let c = b[this.p]!;
    if (c < ZERO || c > NINE) throw FALLBACK;
    // A leading zero is only the number 0 itself.
    if (c === ZERO && b[this.p + 1]! >= ZERO && b[this.p + 1]! <= NINE) throw FALLBACK;
    let value = 0;
    let digits = 0;
    while (c >= ZERO && c <= NINE) {
      value = value * 10 + (c - ZERO);
      digits++;
      c = b[++this.p]!;
    }
    if (digits > maxDigits || c === DOT || c === 0x65 || c === 0x45) throw FALLBACK;
    return value;
  }

  /** A key without escapes; returns where its text lies, the closing quote read. */
  private key(): [number, number] {
    const b = this.b;
    if (b[this.p++] !== QUOTE) throw FALLBACK;
    const from = this.p;
    for (;;) {
      const c = b[this.p]!;
      if (c === QUOTE) break;
      if (c < 0x20 || c > 0x7e || c === 0x5c || this.p >= this.end) throw FALLBACK;
      this.p++;
    }
    return [from, this.p++];
  }

  private entryOf(from: number, to: number): MetricEntry {
    const candidates = entriesByHash.get(hashOf(this.b, from, to));
    if (candidates) for (const entry of candidates) if (this.equals(from, to, entry.bytes)) return entry;
    throw FALLBACK;
  }

  private equals(from: number, to: number, text: Uint8Array): boolean {
    if (to - from !== text.length) return false;
    const b = this.b;
    for (let i = 0; i < text.length; i++) if (b[from + i] !== text[i]) return false;
    return true;
  }

  private literal(text: Uint8Array): boolean {
    if (!this.equals(this.p, this.p + text.length, text)) return false;
    this.p += text.length;
    return true;
  }

  private ws(): void {
    const b = this.b;
    for (;;) {
      const c = b[this.p];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.p++;
    }
  }
}

const TRUE = ascii('true');
const FALSE = ascii('false');
