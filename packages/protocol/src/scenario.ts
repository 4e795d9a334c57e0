import type { NativeMessage } from './native.js';

/**
 * A pure, seeded vehicle simulator: the CLI's `tacho simulate`, the server's demo vehicles, tests and the
 * benchmark all drive vehicles with it. The vehicle cycles parked → driving → parked → charging, and each
 * call to `next(tsMs)` advances it to that instant and returns one native message (~300 bytes).
 */
export type Phase = 'parked' | 'driving' | 'charging';

export interface SimulatorOptions {
  seed: number;
  /** Where the vehicle starts; it drives loops around this point. Defaults near Munich. */
  home?: { lat: number; lon: number };
  /** How long each phase lasts, in simulated milliseconds. */
  phaseMs?: Partial<Record<Phase, number>>;
  /** Start in this phase (e.g. `driving` so a demo moves at once). */
  startPhase?: Phase;
  batteryKwh?: number;
  /**
   * The phases it goes through, in order, again and again (default parked → driving → parked → charging).
   * `['parked']` stays parked; `['charging']` charges to the limit and then stays plugged in, complete.
   */
  cycle?: readonly Phase[];
}

const CYCLE: readonly Phase[] = ['parked', 'driving', 'parked', 'charging'];
const DEFAULT_PHASE_MS: Record<Phase, number> = { parked: 120_000, driving: 600_000, charging: 480_000 };
const EARTH_RADIUS_M = 6_371_000;

/** mulberry32: small, fast, good enough for plausible noise, and the same sequence for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export class VehicleSimulator {
  private readonly random: () => number;
  private readonly phaseMs: Record<Phase, number>;
  private readonly batteryKwh: number;
  private readonly cycle: readonly Phase[];
  private cycleIndex: number;
  private phaseStartedMs: number | null = null;
  private lastMs: number | null = null;
  private seq = 0;
  private lat: number;
  private lon: number;
  private heading = 0;
  private speed = 0;
  private battery = 0;
  private odometer = 0;
  private outside = 0;
  private inside = 0;
  private chargeAdded = 0;
  readonly chargeLimit = 80;

  constructor(options: SimulatorOptions) {
    this.random = prng(options.seed);
    this.phaseMs = { ...DEFAULT_PHASE_MS, ...options.phaseMs };
    this.batteryKwh = options.batteryKwh ?? 75;
    this.cycle = options.cycle && options.cycle.length > 0 ? options.cycle : CYCLE;
    this.cycleIndex = Math.max(0, this.cycle.indexOf(options.startPhase ?? this.cycle[0]!));
    const home = options.home ?? { lat: 48.137, lon: 11.575 };
    this.lat = home.lat + (this.random() - 0.5) * 0.05;
    this.lon = home.lon + (this.random() - 0.5) * 0.05;
    this.heading = this.random() * 360;
    this.battery = 40 + this.random() * 40;
    this.odometer = 5000 + this.random() * 50_000;
    this.outside = 5 + this.random() * 20;
    this.inside = this.outside;
  }

  get phase(): Phase {
    return this.cycle[this.cycleIndex % this.cycle.length]!;
  }

  /** Advances the vehicle to `tsMs` (epoch ms, not before the previous call) and describes it. */
  next(tsMs: number): NativeMessage {
    this.phaseStartedMs ??= tsMs;
    const dtS = this.lastMs === null ? 0 : Math.max(0, (tsMs - this.lastMs) / 1000);
    this.lastMs = tsMs;
    if (tsMs - this.phaseStartedMs >= this.phaseMs[this.phase]) {
      const before = this.phase;
      this.cycleIndex++;
      this.phaseStartedMs = tsMs;
      // Nothing left to drive with: charge next (a cycle without charging just parks).
      if (this.phase === 'driving' && this.battery < 15) this.cycleIndex++;
      // A session of charging goes on counting while the vehicle stays plugged in.
      if (this.phase !== before) this.chargeAdded = 0;
    }
    this.outside += (this.random() - 0.5) * 0.02 * dtS;
    this.outside = Math.min(40, Math.max(-20, this.outside));
    switch (this.phase) {
      case 'driving':
        return this.drive(tsMs, dtS);
      case 'charging':
        return this.charge(tsMs, dtS);
      default:
        return this.park(tsMs);
    }
  }

  private base(tsMs: number): { ts: number; seq: number } {
    this.seq = (this.seq + 1) % 2_147_483_647;
    return { ts: Math.round(tsMs), seq: this.seq };
  }

  private drive(tsMs: number, dtS: number): NativeMessage {
    // Speed wanders towards a target that changes now and then; the heading turns gently so the track
    // looks like roads rather than noise.
    const target = 30 + this.random() * 90;
    this.speed = Math.max(0, Math.min(150, this.speed + (target - this.speed) * Math.min(1, dtS * 0.05)));
    this.heading = (this.heading + (this.random() - 0.5) * 10 * Math.min(dtS, 5) + 360) % 360;
    const distanceM = (this.speed / 3.6) * dtS;
    const rad = (this.heading * Math.PI) / 180;
    this.lat += ((distanceM * Math.cos(rad)) / EARTH_RADIUS_M) * (180 / Math.PI);
    this.lon +=
      ((distanceM * Math.sin(rad)) / (EARTH_RADIUS_M * Math.cos((this.lat * Math.PI) / 180))) *
      (180 / Math.PI);
    this.odometer += distanceM / 1000;
    // ~170 Wh/km, more at speed.
    const kwh = (distanceM / 1000) * (0.14 + this.speed / 3000);
    this.battery = Math.max(0, this.battery - (kwh / this.batteryKwh) * 100);
    this.inside += (21 - this.inside) * Math.min(1, dtS * 0.01);
    const powerKw = this.speed === 0 ? 0 : (kwh / Math.max(dtS, 1e-3)) * 3600;
    return {
      ...this.base(tsMs),
      metrics: {
        battery_level_pct: round(this.battery, 2),
        range_km: round(this.battery * 4.2, 1),
        speed_kmh: round(this.speed, 1),
        odometer_km: round(this.odometer, 3),
        power_kw: round(Math.min(powerKw, 250), 2),
        ignition: true,
        gear: 'D',
        charging_state: 'disconnected',
        outside_temp_c: round(this.outside, 1),
        inside_temp_c: round(this.inside, 1),
      },
      position: {
        lat: round(this.lat, 6),
        lon: round(this.lon, 6),
        heading_deg: round(this.heading, 1),
        speed_kmh: round(this.speed, 1),
        alt_m: round(520 + Math.sin(this.odometer / 3) * 15, 1),
      },
    };
  }

  private charge(tsMs: number, dtS: number): NativeMessage {
    // Constant power until 60 %, then tapering, stopping at the charge limit.
    const taper =
      this.battery < 60 ? 1 : Math.max(0.1, (this.chargeLimit - this.battery) / (this.chargeLimit - 60));
    const powerKw = this.battery >= this.chargeLimit ? 0 : 50 * taper;
    const kwh = (powerKw * dtS) / 3600;
    this.chargeAdded += kwh;
    this.battery = Math.min(this.chargeLimit, this.battery + (kwh / this.batteryKwh) * 100);
    this.speed = 0;
    return {
      ...this.base(tsMs),
      metrics: {
        battery_level_pct: round(this.battery, 2),
        range_km: round(this.battery * 4.2, 1),
        charging_state: powerKw > 0 ? 'charging' : 'complete',
        charger_power_kw: round(powerKw, 2),
        charge_energy_added_kwh: round(this.chargeAdded, 3),
        charge_limit_pct: this.chargeLimit,
        speed_kmh: 0,
        ignition: false,
        gear: 'P',
        outside_temp_c: round(this.outside, 1),
      },
      position: { lat: round(this.lat, 6), lon: round(this.lon, 6) },
    };
  }

  private park(tsMs: number): NativeMessage {
    this.speed = 0;
    this.inside += (this.outside - this.inside) * 0.01;
    return {
      ...this.base(tsMs),
      metrics: {
        battery_level_pct: round(this.battery, 2),
        range_km: round(this.battery * 4.2, 1),
        speed_kmh: 0,
        odometer_km: round(this.odometer, 3),
        ignition: false,
        gear: 'P',
        charging_state: 'disconnected',
        outside_temp_c: round(this.outside, 1),
        inside_temp_c: round(this.inside, 1),
        battery_12v_v: round(12.4 + this.random() * 0.3, 2),
      },
      position: { lat: round(this.lat, 6), lon: round(this.lon, 6) },
    };
  }
}
