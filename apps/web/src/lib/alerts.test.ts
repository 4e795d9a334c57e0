import type { Alert, AlertRule } from '@tacho/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alertMessageForDisplay,
  buildRule,
  dayToMs,
  describeRule,
  emptyRuleForm,
  fieldOfError,
  mergeFirstPage,
  metricHint,
  metricOptions,
  needsAttention,
  opsFor,
  type RuleForm,
  replaceAlert,
  ruleToForm,
  withMetric,
} from './alerts.js';
import { setDisplayUnits } from './units.js';

const form = (change: Partial<RuleForm>): RuleForm => ({ ...emptyRuleForm(), ...change });

function alert(id: string, firedMs: number, state: Alert['state'] = 'open'): Alert {
  return {
    id,
    ruleId: 'r1',
    ruleName: 'Battery low',
    vehicleId: 'v1',
    state,
    firedMs,
    message: `Battery level 18 % < 20 % (${id})`,
    value: 18,
    acknowledgedMs: null,
    acknowledgedBy: null,
    resolvedMs: null,
  };
}

describe('the rule form', () => {
  it('offers every catalog metric with its unit', () => {
    expect(metricOptions()).toContainEqual({ value: 'battery_level_pct', label: 'Battery level (%)' });
    expect(metricOptions()).toContainEqual({ value: 'speed_kmh', label: 'Speed (km/h)' });
    expect(metricOptions()).toContainEqual({ value: 'charging_state', label: 'Charging state' });
  });

  it('offers only the operators that fit the metric, and keeps the value typed by it', () => {
    expect(opsFor('battery_level_pct')).toEqual(['<', '<=', '>', '>=', '==', '!=']);
    expect(opsFor('charging_state')).toEqual(['==', '!=']);
    expect(opsFor('locked')).toEqual(['==', '!=']);
    const toEnum = withMetric(form({ op: '<', value: '20' }), 'charging_state');
    expect(toEnum).toMatchObject({ op: '==', value: 'disconnected', hysteresis: '' });
    expect(withMetric(form({ value: '20' }), 'range_km').value).toBe('20');
    expect(withMetric(form({ value: '20' }), 'locked').value).toBe('true');
  });

  it('builds a condition with a numeric value, email to the own address and in-app by default', () => {
    const built = buildRule(form({ name: ' Battery low ', value: '20', forS: '60', hysteresis: '2' }));
    expect(built).toEqual({
      ok: true,
      rule: {
        name: 'Battery low',
        vehicleId: null,
        enabled: true,
        condition: { metric: 'battery_level_pct', op: '<', value: 20, forS: 60, hysteresis: 2 },
        channels: [{ type: 'email' }, { type: 'inapp' }],
      },
      channelFields: ['channels.email', 'channels.inapp'],
    });
  });

  it('sends booleans as booleans and enum values as strings', () => {
    const locked = buildRule(form({ name: 'Unlocked', metric: 'locked', op: '==', value: 'false' }));
    expect(locked.ok && locked.rule.condition).toEqual({ metric: 'locked', op: '==', value: false });
    const charging = buildRule(form({ name: 'Fault', metric: 'charging_state', op: '==', value: 'error' }));
    expect(charging.ok && charging.rule.condition?.value).toBe('error');
  });

  it('builds events with what each needs', () => {
    const fence = buildRule(
      form({
        name: 'Home',
        kind: 'event',
        event: 'geofence_exit',
        lat: '52.52',
        lon: '13.405',
        radiusM: '500',
        vehicleId: 'v1',
        cooldownS: '600',
        webhook: true,
        webhookUrl: 'https://example.com/hook',
      }),
    );
    expect(fence.ok && fence.rule).toMatchObject({
      vehicleId: 'v1',
      cooldownS: 600,
      event: { type: 'geofence_exit', geofence: { lat: 52.52, lon: 13.405, radiusM: 500 } },
      channels: [{ type: 'email' }, { type: 'webhook', url: 'https://example.com/hook' }, { type: 'inapp' }],
    });
    expect(fence.ok && fence.channelFields).toEqual(['channels.email', 'channels.webhook', 'channels.inapp']);
    const offline = buildRule(form({ name: 'Gone', kind: 'event', event: 'offline', eventForS: '900' }));
    expect(offline.ok && offline.rule.event).toEqual({ type: 'offline', forS: 900 });
  });

  it('names the fields to fix before sending anything', () => {
    expect(buildRule(form({ value: 'twenty', forS: '1.5' }))).toEqual({
      ok: false,
      errors: {
        name: 'Give the rule a name.',
        'condition.value': 'Enter a number.',
        'condition.forS': 'Enter a whole number.',
      },
    });
    const event = buildRule(form({ name: 'x', kind: 'event', event: 'offline', email: false, inapp: false }));
    expect(event).toEqual({
      ok: false,
      errors: { 'event.forS': 'Required.', channels: 'Choose at least one way to be told.' },
    });
    const hook = buildRule(form({ name: 'x', value: '1', webhook: true, webhookUrl: 'ftp://x' }));
    expect(hook).toEqual({ ok: false, errors: { 'channels.webhook': 'An http:// or https:// URL.' } });
  });

  it('shows a stored rule as it was entered', () => {
    const rule: AlertRule = {
      id: 'r1',
      name: 'Battery low',
      ownerId: 'u1',
      vehicleId: 'v1',
      condition: { metric: 'battery_level_pct', op: '<', value: 20, hysteresis: 2 },
      event: null,
      cooldownS: 3600,
      channels: [
        { type: 'email', to: 'me@example.org' },
        { type: 'webhook', url: 'https://h.example/x' },
      ],
      enabled: false,
      webhookSecret: 'secret',
      createdMs: 0,
      updatedMs: 0,
    };
    const shown = ruleToForm(rule, 'me@example.org');
    expect(shown).toMatchObject({
      kind: 'condition',
      value: '20',
      hysteresis: '2',
      forS: '',
      vehicleId: 'v1',
      cooldownS: '3600',
      email: true,
      emailTo: '',
      webhook: true,
      inapp: false,
      enabled: false,
    });
    expect(describeRule(rule)).toBe('Battery level < 20 % (hysteresis 2 %)');
    expect(describeRule({ condition: null, event: { type: 'offline', forS: 900 } })).toBe(
      'No data for 15 min',
    );
  });
});

describe("the rule form in the user's units", () => {
  afterEach(() => setDisplayUnits({ distance: 'km', temperature: 'c', pressure: 'kpa' }));

  const rule = (condition: AlertRule['condition']): AlertRule => ({
    id: 'r1',
    name: 'Fast',
    ownerId: 'u1',
    vehicleId: null,
    condition,
    event: null,
    cooldownS: 600,
    channels: [{ type: 'inapp' }],
    enabled: true,
    webhookSecret: null,
    createdMs: 0,
    updatedMs: 0,
  });

  it('shows a stored rule converted, and saved unchanged keeps the exact stored values', () => {
    setDisplayUnits({ distance: 'mi', temperature: 'f', pressure: 'psi' });
    const fast = rule({ metric: 'speed_kmh', op: '>', value: 100, hysteresis: 5 });
    const shown = ruleToForm(fast, 'me@example.org');
    expect(shown).toMatchObject({ value: '62.1371', hysteresis: '3.1069' });
    const saved = buildRule(shown);
    expect(saved.ok && saved.rule.condition).toEqual({
      metric: 'speed_kmh',
      op: '>',
      value: 100,
      hysteresis: 5,
    });
    expect(describeRule(fast)).toBe('Speed > 62 mph (hysteresis 3.1069 mph)');
  });

  it('converts what the user types to the stored unit: mph to km/h, °F to °C (a difference without the offset)', () => {
    setDisplayUnits({ distance: 'mi', temperature: 'f', pressure: 'psi' });
    const speed = buildRule(form({ name: 'Fast', metric: 'speed_kmh', op: '>', value: '65' }));
    expect(speed.ok && speed.rule.condition?.value).toBeCloseTo(104.60736, 9);
    const cold = buildRule(
      form({ name: 'Cold', metric: 'outside_temp_c', op: '<', value: '41', hysteresis: '3.6' }),
    );
    expect(cold.ok && cold.rule.condition?.value).toBeCloseTo(5, 9);
    expect(cold.ok && cold.rule.condition?.hysteresis).toBeCloseTo(2, 9);
    const tyre = buildRule(form({ name: 'Flat', metric: 'tyre_pressure_fl_kpa', op: '<', value: '30' }));
    expect(tyre.ok && tyre.rule.condition?.value).toBeCloseTo(206.8427, 4);
    // Another metric than the stored one: the typed text counts, converted.
    const edited = ruleToForm(rule({ metric: 'speed_kmh', op: '>', value: 100 }), 'me@example.org');
    const moved = buildRule(withMetric(edited, 'range_km'));
    expect(moved.ok && moved.rule.condition?.value).toBeCloseTo(62.1371 * 1.609344, 9);
    // Percentages are nobody's preference.
    const battery = buildRule(form({ name: 'Low', value: '20' }));
    expect(battery.ok && battery.rule.condition?.value).toBe(20);
  });

  it("labels metrics, ranges and alert messages in the user's units", () => {
    setDisplayUnits({ distance: 'mi', temperature: 'f', pressure: 'bar' });
    expect(metricOptions()).toContainEqual({ value: 'speed_kmh', label: 'Speed (mph)' });
    expect(metricOptions()).toContainEqual({ value: 'outside_temp_c', label: 'Outside temperature (°F)' });
    expect(metricOptions()).toContainEqual({
      value: 'tyre_pressure_fl_kpa',
      label: 'Tyre pressure front left (bar)',
    });
    expect(metricHint('outside_temp_c')).toBe('Plausible range -76 – 158 °F');
    expect(alertMessageForDisplay('Speed 120 km/h > 100 km/h')).toBe('Speed 75 mph > 62 mph');
    expect(alertMessageForDisplay('Outside temperature -3.5 °C < 0 °C')).toBe(
      'Outside temperature 25.7 °F < 32.0 °F',
    );
    expect(alertMessageForDisplay('Tyre pressure front left 180 kPa < 200 kPa')).toBe(
      'Tyre pressure front left 1.80 bar < 2.00 bar',
    );
    expect(alertMessageForDisplay('Battery level 18 % < 20 %')).toBe('Battery level 18 % < 20 %');
    setDisplayUnits({ distance: 'km', temperature: 'c', pressure: 'kpa' });
    expect(alertMessageForDisplay('Speed 120.5 km/h > 100 km/h')).toBe('Speed 120.5 km/h > 100 km/h');
  });
});

describe('server refusals land next to the field they name', () => {
  it('reads domain errors ("field: reason")', () => {
    expect(fieldOfError('condition.metric: "warp_factor" is not a catalog metric')).toEqual({
      field: 'condition.metric',
      message: '"warp_factor" is not a catalog metric',
    });
    expect(fieldOfError('condition.op: < does not fit charging_state (an enum)')?.field).toBe('condition.op');
    expect(fieldOfError('event.geofence: required for geofence_exit')?.field).toBe('event.geofence.lat');
    expect(fieldOfError('cooldownS: at most a week')?.field).toBe('cooldownS');
  });

  it('maps a channel by its index to the checkbox it came from', () => {
    const fields = ['channels.email', 'channels.webhook'] as const;
    expect(fieldOfError('channels[1].url: private addresses need an admin', fields)).toEqual({
      field: 'channels.webhook',
      message: 'private addresses need an admin',
    });
    expect(fieldOfError('channels.0.to: another address needs the admin role', fields)?.field).toBe(
      'channels.email',
    );
  });

  it("reads schema errors (Fastify's body/path form)", () => {
    expect(fieldOfError('body/condition/value must be number')).toEqual({
      field: 'condition.value',
      message: 'must be number',
    });
    expect(fieldOfError('body/name must NOT have fewer than 1 characters')?.field).toBe('name');
    expect(fieldOfError("body must have required property 'channels'")?.field).toBe('channels');
    expect(
      fieldOfError('body/channels/1/url must NOT have more than 2048 characters', [
        'channels.inapp',
        'channels.webhook',
      ])?.field,
    ).toBe('channels.webhook');
  });

  it('leaves a message that names no field to the form as a whole', () => {
    expect(fieldOfError('too many rules')).toBeNull();
    expect(fieldOfError('internal server error')).toBeNull();
  });
});

describe('alert lists', () => {
  it('puts open alerts before acknowledged ones, newest first in each', () => {
    const list = needsAttention([alert('a', 1), alert('b', 3)], [alert('c', 5, 'acknowledged')]);
    expect(list.map((a) => a.id)).toEqual(['b', 'a', 'c']);
  });

  it('reads a day of the date filter as a local range, the end day included', () => {
    expect(dayToMs('2026-03-05')).toBe(new Date(2026, 2, 5).getTime());
    expect(dayToMs('2026-03-05', true)).toBe(new Date(2026, 2, 6).getTime() - 1);
    expect(dayToMs('')).toBeUndefined();
  });

  it('applies a live frame where the alert is shown', () => {
    const page = { items: [alert('a', 2), alert('b', 1)], nextBefore: null };
    const acked = { ...alert('b', 1), state: 'acknowledged' as const, acknowledgedMs: 5 };
    expect(replaceAlert(page, acked).items.map((a) => a.state)).toEqual(['open', 'acknowledged']);
    expect(replaceAlert(page, alert('z', 9))).toBe(page);
  });

  it('merges the first page asked again with older pages already shown, each alert once', () => {
    const shown = { items: [alert('c', 3), alert('b', 2), alert('a', 1)], nextBefore: 'cursor-a' };
    const fresh = { items: [alert('d', 4), alert('c', 3)], nextBefore: 'cursor-c' };
    const merged = mergeFirstPage(shown, fresh);
    expect(merged.items.map((a) => a.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(merged.nextBefore).toBe('cursor-a');
    expect(mergeFirstPage(shown, { items: [alert('d', 4)], nextBefore: null }).items).toHaveLength(1);
  });
});
