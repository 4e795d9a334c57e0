import type { MetricValue, NativeMessage } from '@tacho/protocol';
import { type DecodeDeadLetter, payloadText, round } from './decoded.js';
import signalSet from './obd/default.json' with { type: 'json' };

/**
 * OBD-II decoding: mode 01 responses with the SAE J1979 formulas of the OBDb signal set (obd/default.json,
 * CC BY-SA 4.0, OBDb contributors: see obd/SOURCE.md), and mode 03 responses into SAE J2012 trouble codes.
 */

interface SignalFormat {
  bix?: number;
  len: number;
  sign?: boolean;
  mul?: number;
  div?: number;
  add?: number;
  min?: number;
  max?: number;
  nullmin?: number;
  nullmax?: number;
  unit?: string;
  map?: Record<string, { value: string; description?: string }>;
}

interface SignalDef {
  id: string;
  name: string;
  description?: string;
  fmt: SignalFormat;
}

/** One decodable signal, as `GET /api/v1/diagnostics/pids` lists it. */
export interface PidSignal {
  /** OBDb signal id, e.g. `VSS`; stored as raw key `obd.<id>`. */
  readonly id: string;
  readonly name: string;
  /** Mode and PID as requested, e.g. `010D`. */
  readonly pid: string;
  /** Unit symbol (`km/h`, `°C`, `%`); `bool` for flags, `enum` for named states, '' for plain counts. */
  readonly unit: string;
  readonly min?: number;
  readonly max?: number;
  /** Named states of an `enum` signal. */
  readonly states?: string[];
  /** The canonical metric this signal feeds, when there is one. */
  readonly metric?: string;
}

/** OBDb unit names → the unit symbols Tacho shows. Flags (`yesno` etc.) are booleans, see `flagValue`. */
const UNIT_SYMBOLS: Record<string, string> = {
  percent: '%',
  celsius: '°C',
  kilopascal: 'kPa',
  volts: 'V',
  gramsPerSecond: 'g/s',
  seconds: 's',
  minutes: 'min',
  kilometers: 'km',
  kilometersPerHour: 'km/h',
  degrees: '°',
  milliamps: 'mA',
  amps: 'A',
  rpm: 'rpm',
  litersPerHour: 'L/h',
  newtonMeters: 'N·m',
  kilogramsPerHour: 'kg/h',
  milligramsPerStroke: 'mg/stroke',
  scalar: '',
  hex: '',
};
const FLAG_UNITS = new Set(['offon', 'yesno', 'noyes']);

/**
 * OBDb signal ids that mean the same as a canonical metric (same unit). Everything else stays a raw key.
 */
export const OBD_CANONICAL: Readonly<Record<string, string>> = {
  VSS: 'speed_kmh',
  RPM: 'engine_rpm',
  ECT: 'coolant_temp_c',
  IAT: 'intake_air_temp_c',
  MAF: 'maf_gs',
  TP: 'throttle_pct',
  LOAD_PCT: 'engine_load_pct',
  FLI: 'fuel_level_pct',
  VPWR: 'battery_12v_v',
  AAT: 'outside_temp_c',
  ODO: 'odometer_km',
};

const byPid = new Map<number, { pid: string; signals: SignalDef[] }>();
for (const command of (
  signalSet as { commands: Array<{ cmd: Record<string, string>; signals: SignalDef[] }> }
).commands) {
  const pidHex = command.cmd['01'];
  if (pidHex === undefined) continue;
  byPid.set(Number.parseInt(pidHex, 16), { pid: `01${pidHex.toUpperCase()}`, signals: command.signals });
}

function unitOf(fmt: SignalFormat): string {
  if (fmt.map) return 'enum';
  if (fmt.unit && FLAG_UNITS.has(fmt.unit)) return 'bool';
  return UNIT_SYMBOLS[fmt.unit ?? 'scalar'] ?? fmt.unit ?? '';
}

let pidList: PidSignal[] | null = null;
/** Every mode 01 signal the decoder knows, ordered by PID. */
export function listPids(): readonly PidSignal[] {
  pidList ??= [...byPid.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([, { pid, signals }]) =>
      signals.map((s): PidSignal => {
        const unit = unitOf(s.fmt);
        const metric = OBD_CANONICAL[s.id];
        return {
          id: s.id,
          name: s.name,
          pid,
          unit,
          ...(unit !== 'bool' && unit !== 'enum' && s.fmt.min !== undefined ? { min: s.fmt.min } : {}),
          ...(unit !== 'bool' && unit !== 'enum' && s.fmt.max !== undefined ? { max: s.fmt.max } : {}),
          ...(s.fmt.map ? { states: Object.values(s.fmt.map).map((m) => m.value) } : {}),
          ...(metric ? { metric } : {}),
        };
      }),
    );
  return pidList;
}

/** Parses hex with optional spaces (`41 0D 3C`, `410d3c`) into bytes; null when it is not hex. */
export function parseHexBytes(text: string): Uint8Array | null {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(compact)) return null;
  return Uint8Array.from(compact.match(/../g)!.map((b) => Number.parseInt(b, 16)));
}

/** Reads `len` bits starting at bit `bix` (most significant bit of the first byte is bit 0). */
function readBits(data: Uint8Array, bix: number, len: number): number {
  let raw = 0;
  for (let i = bix; i < bix + len; i++) {
    const bit = ((data[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
    raw = raw * 2 + bit;
  }
  return raw;
}

function flagValue(unit: string, raw: number): boolean {
  // OBDb names flag units by what 0 means first: `yesno` is 0 = yes (readiness: 0 = test complete),
  // `noyes` and `offon` are 0 = no / off.
  return unit === 'yesno' ? raw === 0 : raw === 1;
}

function signalValue(fmt: SignalFormat, data: Uint8Array): MetricValue | null {
  const len = fmt.len;
  let raw = readBits(data, fmt.bix ?? 0, len);
  if (fmt.map) return fmt.map[String(raw)]?.value ?? String(raw);
  if (fmt.unit && FLAG_UNITS.has(fmt.unit)) return flagValue(fmt.unit, raw);
  if (fmt.sign && raw >= 2 ** (len - 1)) raw -= 2 ** len;
  const value = round((raw * (fmt.mul ?? 1)) / (fmt.div ?? 1) + (fmt.add ?? 0), 4);
  // nullmin / nullmax are the readings that mean "not available" (e.g. 255 km/h from VSS).
  if (fmt.nullmin !== undefined && value <= fmt.nullmin) return null;
  if (fmt.nullmax !== undefined && value >= fmt.nullmax) return null;
  return value;
}

export type ObdDecodeResult =
  | { ok: true; pid: string; values: Array<{ id: string; value: MetricValue }> }
  | { ok: false; reason: string };

/** Decodes one mode 01 response (`41 0D 3C`) to the PID it answers (`010D`). */
export function decodeObdResponse(pid: unknown, response: unknown): ObdDecodeResult {
  if (typeof pid !== 'string' || !/^(01)?[0-9a-fA-F]{2}$/.test(pid.trim())) {
    return { ok: false, reason: 'obd: pid is not a mode 01 PID like "010D"' };
  }
  const pidByte = Number.parseInt(pid.trim().slice(-2), 16);
  const command = byPid.get(pidByte);
  const name = `01${pid.trim().slice(-2).toUpperCase()}`;
  if (!command) return { ok: false, reason: `obd: pid ${name} is not in the catalog` };
  if (typeof response !== 'string') return { ok: false, reason: `obd: response of ${name} is not a string` };
  const bytes = parseHexBytes(response);
  if (!bytes) return { ok: false, reason: `obd: response of ${name} is not hex` };
  if (bytes[0] !== 0x41 || bytes[1] !== pidByte) {
    return { ok: false, reason: `obd: response of ${name} does not start with 41 ${name.slice(2)}` };
  }
  const data = bytes.subarray(2);
  const values: Array<{ id: string; value: MetricValue }> = [];
  for (const signal of command.signals) {
    const needBits = (signal.fmt.bix ?? 0) + signal.fmt.len;
    if (data.length * 8 < needBits) {
      return { ok: false, reason: `obd: response of ${name} is too short for ${signal.id}` };
    }
    const value = signalValue(signal.fmt, data);
    if (value !== null) values.push({ id: signal.id, value });
  }
  return { ok: true, pid: command.pid, values };
}

const DTC_LETTERS = ['P', 'C', 'B', 'U'] as const;

/** One SAE J2012 code from its two bytes (`01 33` → `P0133`); null for `00 00` (no code). */
export function dtcFromBytes(a: number, b: number): string | null {
  if (a === 0 && b === 0) return null;
  const letter = DTC_LETTERS[a >> 6]!;
  const hex = (n: number) => n.toString(16).toUpperCase();
  return `${letter}${(a >> 4) & 0x3}${hex(a & 0xf)}${hex(b >> 4)}${hex(b & 0xf)}`;
}

/**
 * Decodes mode 03 responses (one per line when several ECUs answer) into trouble codes. Without a count
 * byte (ISO 9141 / KWP: `43` + three code pairs) the data length is even; on CAN a count byte comes first,
 * which makes it odd.
 */
export function decodeDtcResponse(
  response: unknown,
): { ok: true; codes: string[] } | { ok: false; reason: string } {
  if (typeof response !== 'string') return { ok: false, reason: 'obd: dtc is not a string' };
  const codes = new Set<string>();
  const lines = response.split(/[\r\n>]+/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return { ok: false, reason: 'obd: dtc is empty' };
  for (const line of lines) {
    const bytes = parseHexBytes(line);
    if (!bytes) return { ok: false, reason: 'obd: dtc is not hex' };
    if (bytes[0] !== 0x43) return { ok: false, reason: 'obd: dtc does not start with 43 (mode 03 response)' };
    let data = bytes.subarray(1);
    if (data.length % 2 === 1) data = data.subarray(1);
    for (let i = 0; i + 1 < data.length; i += 2) {
      const code = dtcFromBytes(data[i]!, data[i + 1]!);
      if (code) codes.add(code);
    }
  }
  return { ok: true, codes: [...codes] };
}

/** The OBD fields a native message may carry (the native schema allows extra properties). */
export interface ObdFields {
  /** Mode 01 responses: `[{pid: "010D", response: "41 0D 3C"}]`. */
  obd?: unknown;
  /** Mode 03 response(s): `"43 01 33 00 00 00 00"`. */
  dtc?: unknown;
}

/**
 * Expands the `obd` and `dtc` fields of a native message into metrics and raw keys: signals with a
 * canonical metric fill `metrics` (a metric the message already carries wins), every decoded signal is kept
 * as raw key `obd.<id>`, trouble codes as raw key `obd.dtc` (comma-separated, '' when none). Unreadable
 * entries become dead letters; the rest of the message is kept.
 */
export function expandObd(message: NativeMessage & ObdFields): {
  message: NativeMessage;
  deadLetters: DecodeDeadLetter[];
} {
  const { obd, dtc, ...rest } = message;
  if (obd === undefined && dtc === undefined) return { message, deadLetters: [] };
  const deadLetters: DecodeDeadLetter[] = [];
  const metrics: Record<string, MetricValue> = {};
  const raw: Record<string, MetricValue> = {};
  if (obd !== undefined) {
    if (!Array.isArray(obd)) {
      deadLetters.push({ reason: 'obd: obd is not an array', payload: payloadText(obd) });
    } else {
      for (const entry of obd) {
        const e = entry as { pid?: unknown; response?: unknown } | null;
        const result = decodeObdResponse(e?.pid, e?.response);
        if (!result.ok) {
          deadLetters.push({ reason: result.reason, payload: payloadText(entry) });
          continue;
        }
        for (const { id, value } of result.values) {
          raw[`obd.${id}`] = value;
          const metric = OBD_CANONICAL[id];
          if (metric) metrics[metric] = value;
        }
      }
    }
  }
  if (dtc !== undefined) {
    const result = decodeDtcResponse(dtc);
    if (result.ok) raw['obd.dtc'] = result.codes.join(',');
    else deadLetters.push({ reason: result.reason, payload: payloadText(dtc) });
  }
  return {
    message: {
      ...rest,
      metrics: { ...metrics, ...rest.metrics },
      raw: { ...raw, ...rest.raw },
    },
    deadLetters,
  };
}

/** Encodes a mode 01 response for a value (the simulator's OBD mode); inverse of the signal's formula. */
export function encodeObdResponse(signalId: string, value: number): string | null {
  for (const [pidByte, command] of byPid) {
    if (command.signals.length !== 1) continue;
    const signal = command.signals[0]!;
    if (signal.id !== signalId || signal.fmt.map || (signal.fmt.bix ?? 0) !== 0) continue;
    const { len, mul = 1, div = 1, add = 0 } = signal.fmt;
    let raw = Math.round(((value - add) * div) / mul);
    raw = Math.min(Math.max(raw, 0), 2 ** len - 1);
    const bytes = [0x41, pidByte];
    for (let shift = len - 8; shift >= 0; shift -= 8) bytes.push(Math.floor(raw / 2 ** shift) % 256);
    return bytes.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
  }
  return null;
}

/**
 * Whether a decoded native message carries OBD fields to expand (see expandObd). Runs for every message on
 * the hot path: two property checks, no allocation.
 */
export function hasObdFields(message: unknown): message is NativeMessage & ObdFields {
  return (
    typeof message === 'object' &&
    message !== null &&
    ('obd' in message || 'dtc' in message) &&
    !Array.isArray(message)
  );
}
