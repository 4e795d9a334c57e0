import type { MetricValue } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import { describe as describeAlert } from './alerts.processor.js';
import { type Effect, evaluate, type Input, initialRuleState, nextTick, type RuleSpec } from './evaluator.js';

const T0 = Date.UTC(2026, 5, 1, 8);
const s = (sec: number, metrics: Record<string, MetricValue>, extra: Partial<Input> = {}): Input =>
  ({ kind: 'sample', tsMs: T0 + sec * 1000, metrics, ...extra }) as Input;
const tick = (sec: number): Input => ({ kind: 'tick', nowMs: T0 + sec * 1000 });

/** Runs a scripted stream through one rule; returns each effect as [type, seconds after T0, key]. */
function run(rule: RuleSpec, inputs: Input[]) {
  const state = initialRuleState();
  const out: Array<[Effect['type'], number, string]> = [];
  for (const input of inputs) {
    for (const e of evaluate(rule, state, input)) out.push([e.type, (e.atMs - T0) / 1000, e.key]);
  }
  return { out, state };
}

const below20: RuleSpec = {
  condition: { metric: 'battery_level_pct', op: '<', value: 20 },
  event: null,
  cooldownS: 0,
};
const soc = (sec: number, pct: number) => s(sec, { battery_level_pct: pct });

describe('alert evaluation', () => {
  it('fires once per episode and resolves when the condition clears', () => {
    const { out } = run(below20, [
      soc(0, 25),
      soc(10, 19),
      soc(20, 18),
      soc(30, 17),
      soc(40, 21),
      soc(50, 19),
    ]);
    expect(out).toEqual([
      ['fire', 10, ''],
      ['resolve', 40, ''],
      ['fire', 50, ''],
    ]);
  });

  it('flaps around the threshold without hysteresis, and holds still with it', () => {
    const flapping = [19.9, 20.1, 19.9, 20.1, 19.9, 20.2, 19.8].map((v, i) => soc(i * 10, v));
    expect(run(below20, flapping).out.filter(([t]) => t === 'fire')).toHaveLength(4);
    const steady: RuleSpec = { ...below20, condition: { ...below20.condition!, hysteresis: 1 } };
    expect(run(steady, flapping).out).toEqual([['fire', 0, '']]);
    expect(run(steady, [...flapping, soc(100, 21)]).out).toEqual([
      ['fire', 0, ''],
      ['resolve', 100, ''],
    ]);
  });

  it('waits forS, starts over when the condition is interrupted, and fires at a tick while the vehicle is quiet', () => {
    const rule: RuleSpec = { ...below20, condition: { ...below20.condition!, forS: 60 } };
    // Interrupted at 40 s: the minute starts again at 50 s and is full at 110 s.
    const { out } = run(rule, [
      soc(0, 19),
      soc(30, 18),
      soc(40, 22),
      soc(50, 19),
      soc(100, 18),
      soc(110, 18),
    ]);
    expect(out).toEqual([['fire', 110, '']]);
    // One reading, then silence: the tick a minute later fires it, at the time it became due.
    const state = initialRuleState();
    expect(evaluate(rule, state, soc(0, 15))).toEqual([]);
    expect(nextTick(rule, state)).toBe(T0 + 60_000);
    expect(evaluate(rule, state, tick(59))).toEqual([]);
    expect(evaluate(rule, state, tick(75))).toMatchObject([{ type: 'fire', atMs: T0 + 60_000, value: 15 }]);
    expect(nextTick(rule, state)).toBeNull();
  });

  it('keeps quiet within the cooldown, until the episode clears', () => {
    const rule: RuleSpec = { ...below20, cooldownS: 600 };
    const { out } = run(rule, [
      soc(0, 19),
      soc(10, 25),
      soc(20, 19), // within 10 min of the firing: quiet
      soc(700, 19), // still the same quiet episode
      soc(710, 25),
      soc(720, 19), // a new episode after the cooldown
    ]);
    expect(out).toEqual([
      ['fire', 0, ''],
      ['resolve', 10, ''],
      ['fire', 720, ''],
    ]);
  });

  it('lets late readings pass: they neither fire nor resolve', () => {
    const { out } = run(below20, [soc(100, 25), soc(50, 10), soc(110, 15), soc(60, 30), soc(120, 16)]);
    expect(out).toEqual([['fire', 110, '']]);
  });

  it('goes offline after forS without data, at a tick, and back online at the next reading', () => {
    const rule: RuleSpec = { condition: null, event: { type: 'offline', forS: 600 }, cooldownS: 0 };
    const state = initialRuleState();
    expect(evaluate(rule, state, tick(0))).toEqual([]);
    evaluate(rule, state, soc(0, 50));
    expect(nextTick(rule, state)).toBe(T0 + 600_000);
    expect(evaluate(rule, state, tick(599))).toEqual([]);
    expect(evaluate(rule, state, tick(900))).toMatchObject([{ type: 'fire', atMs: T0 + 600_000 }]);
    expect(evaluate(rule, state, tick(1200))).toEqual([]);
    expect(nextTick(rule, state)).toBeNull();
    expect(evaluate(rule, state, soc(1500, 50))).toMatchObject([{ type: 'resolve', atMs: T0 + 1_500_000 }]);
    expect(nextTick(rule, state)).toBe(T0 + 2_100_000);
  });

  it('compares enums and booleans with == and !=, and never orders them', () => {
    const reverse: RuleSpec = {
      condition: { metric: 'gear', op: '==', value: 'R' },
      event: null,
      cooldownS: 0,
    };
    expect(run(reverse, [s(0, { gear: 'D' }), s(1, { gear: 'R' }), s(2, { gear: 'P' })]).out).toEqual([
      ['fire', 1, ''],
      ['resolve', 2, ''],
    ]);
    const open: RuleSpec = {
      condition: { metric: 'locked', op: '!=', value: true },
      event: null,
      cooldownS: 0,
    };
    expect(run(open, [s(0, { locked: true }), s(1, { locked: false })]).out).toEqual([['fire', 1, '']]);
  });

  it('fires once per new trouble code and resolves each when it is gone', () => {
    const rule: RuleSpec = { condition: null, event: { type: 'dtc_appeared' }, cooldownS: 0 };
    const codes = (sec: number, list: string) => s(sec, {}, { raw: { 'obd.dtc': list } } as Partial<Input>);
    expect(
      run(rule, [
        codes(0, ''),
        codes(10, 'P0300'),
        codes(20, 'P0300,P0171'),
        codes(30, 'P0171'),
        codes(40, ''),
      ]).out,
    ).toEqual([
      ['fire', 10, 'P0300'],
      ['fire', 20, 'P0171'],
      ['resolve', 30, 'P0300'],
      ['resolve', 40, 'P0171'],
    ]);
  });

  it('tells geofence crossings, not the first fix, and instants from the detector', () => {
    const fence = { lat: 48.1, lon: 11.5, radiusM: 500 };
    const at = (sec: number, lat: number) => s(sec, {}, { position: { lat, lon: 11.5 } } as Partial<Input>);
    const enter: RuleSpec = {
      condition: null,
      event: { type: 'geofence_enter', geofence: fence },
      cooldownS: 0,
    };
    const exit: RuleSpec = {
      condition: null,
      event: { type: 'geofence_exit', geofence: fence },
      cooldownS: 0,
    };
    const path = [at(0, 48.1), at(10, 48.2), at(20, 48.1001), at(30, 48.3)];
    expect(run(enter, path).out).toEqual([['fire', 20, '']]);
    expect(run(exit, path).out).toEqual([
      ['fire', 10, ''],
      ['fire', 30, ''],
    ]);
    const drive: RuleSpec = { condition: null, event: { type: 'drive_started' }, cooldownS: 0 };
    const state = initialRuleState();
    expect(evaluate(drive, state, { kind: 'session', type: 'drive_started', tsMs: T0 })).toMatchObject([
      { type: 'fire', instant: true },
    ]);
    expect(evaluate(drive, state, { kind: 'session', type: 'charge_started', tsMs: T0 + 1 })).toEqual([]);
  });

  it('watches the 12 V battery below 11.8 V by default, with a little hysteresis', () => {
    const rule: RuleSpec = { condition: null, event: { type: 'low_12v' }, cooldownS: 0 };
    const v = (sec: number, volts: number) => s(sec, { battery_12v_v: volts });
    expect(run(rule, [v(0, 12.4), v(10, 11.7), v(20, 11.85), v(30, 11.7), v(40, 12.1)]).out).toEqual([
      ['fire', 10, ''],
      ['resolve', 40, ''],
    ]);
  });
});

describe("an alert's message (what emails and webhooks say)", () => {
  it('names the canonical unit, with the value rounded to 2 decimals', () => {
    const rule: RuleSpec = {
      // 70 °F typed in the dashboard, stored in °C.
      condition: { metric: 'outside_temp_c', op: '>', value: ((70 - 32) * 5) / 9 },
      event: null,
      cooldownS: 0,
    };
    const fire = { type: 'fire' as const, key: '', atMs: 0, value: 30.456, instant: false };
    expect(describeAlert(rule, fire)).toBe('Outside temperature 30.46 °C > 21.11 °C');
    const speed: RuleSpec = {
      condition: { metric: 'speed_kmh', op: '>', value: 100 },
      event: null,
      cooldownS: 0,
    };
    expect(describeAlert(speed, { ...fire, value: 120 })).toBe('Speed 120 km/h > 100 km/h');
  });
});
