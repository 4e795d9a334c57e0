import type { MetricValue, NativeMessage } from './native.js';

/**
 * OBD-II mode 01 responses for canonical metrics, as an ELM327-style adapter would return them: the
 * simulator's OBD mode. Formulas are the SAE J1979 ones (inverse of what the server decodes with the OBDb
 * signal set): value = raw × mul / div + add, big-endian, clamped to the PID's range.
 */
interface PidFormula {
  readonly pid: string;
  readonly bytes: number;
  readonly mul?: number;
  readonly div?: number;
  readonly add?: number;
}

const FORMULAS: Readonly<Record<string, PidFormula>> = {
  engine_load_pct: { pid: '04', bytes: 1, mul: 100, div: 255 },
  coolant_temp_c: { pid: '05', bytes: 1, add: -40 },
  engine_rpm: { pid: '0C', bytes: 2, div: 4 },
  speed_kmh: { pid: '0D', bytes: 1 },
  intake_air_temp_c: { pid: '0F', bytes: 1, add: -40 },
  maf_gs: { pid: '10', bytes: 2, div: 100 },
  throttle_pct: { pid: '11', bytes: 1, mul: 100, div: 255 },
  fuel_level_pct: { pid: '2F', bytes: 1, mul: 100, div: 255 },
  battery_12v_v: { pid: '42', bytes: 2, div: 1000 },
  outside_temp_c: { pid: '46', bytes: 1, add: -40 },
  odometer_km: { pid: 'A6', bytes: 4, div: 10 },
};

/** Metrics the OBD mode can express. */
export const OBD_METRICS: readonly string[] = Object.keys(FORMULAS);

/** The mode 01 request and response for one metric value (`{pid: "010D", response: "41 0D 3C"}`). */
export function obdResponse(metric: string, value: number): { pid: string; response: string } | null {
  const f = FORMULAS[metric];
  if (!f || !Number.isFinite(value)) return null;
  const max = 2 ** (8 * f.bytes) - 1;
  const raw = Math.min(max, Math.max(0, Math.round(((value - (f.add ?? 0)) * (f.div ?? 1)) / (f.mul ?? 1))));
  const data: number[] = [];
  for (let i = f.bytes - 1; i >= 0; i--) data.push(Math.floor(raw / 2 ** (8 * i)) % 256);
  const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
  return { pid: `01${f.pid}`, response: ['41', f.pid, ...data.map(hex)].join(' ') };
}

/**
 * The same message as an OBD-II dongle would report it: metrics that have a mode 01 PID move into `obd`
 * responses; the rest (and the position) stay as they are.
 */
export function toObdMessage(
  message: NativeMessage,
): NativeMessage & { obd: Array<{ pid: string; response: string }> } {
  const obd: Array<{ pid: string; response: string }> = [];
  const metrics: Record<string, MetricValue> = {};
  for (const [key, value] of Object.entries(message.metrics ?? {})) {
    const r = typeof value === 'number' ? obdResponse(key, value) : null;
    if (r) obd.push(r);
    else metrics[key] = value;
  }
  const { metrics: _, ...rest } = message;
  return { ...rest, ...(Object.keys(metrics).length > 0 ? { metrics } : {}), obd };
}
