import {
  ALERT_EVENTS,
  ALERT_OPS,
  type Alert,
  type AlertChannel,
  type AlertCondition,
  type AlertEvent,
  type AlertEventSpec,
  type AlertOp,
  type AlertPage,
  type AlertRule,
  type AlertState,
  type CreateAlertRule,
  type MetricDefinition,
  metricCatalog,
  metricKeys,
} from '@tacho/protocol';
import { formatDuration, formatValue, unitOf } from './format.js';
import { formatMetric, metricUnit } from './metrics.js';
import {
  differenceFromDisplay,
  differenceToDisplay,
  displayUnitOf,
  displayUnits,
  fromDisplay,
  toDisplay,
} from './units.js';

/**
 * How the dashboard shows and edits alert rules and alerts: the rule form's fields and their checks, the
 * words for conditions and events, and which field a server refusal names. Pure, so it is tested here and
 * the pages stay about layout.
 */

export const stateLabels: Record<AlertState, string> = {
  open: 'Open',
  acknowledged: 'Acknowledged',
  resolved: 'Resolved',
};

export const opLabels: Record<AlertOp, string> = {
  '<': 'below (<)',
  '<=': 'at most (≤)',
  '>': 'above (>)',
  '>=': 'at least (≥)',
  '==': 'is (=)',
  '!=': 'is not (≠)',
};

const opSymbols: Record<AlertOp, string> = { '<': '<', '<=': '≤', '>': '>', '>=': '≥', '==': '=', '!=': '≠' };

/** Numbers compare every way; enums, booleans and strings only for (in)equality. */
export function opsFor(metric: string): readonly AlertOp[] {
  const type = metricCatalog.get(metric)?.type ?? 'number';
  return type === 'number' ? ALERT_OPS : ['==', '!='];
}

export const eventLabels: Record<AlertEvent, string> = {
  offline: 'Goes offline (no data for a while)',
  drive_started: 'A drive starts',
  drive_ended: 'A drive ends',
  charge_started: 'A charge starts',
  charge_completed: 'A charge completes',
  dtc_appeared: 'A new trouble code (OBD-II DTC) appears',
  geofence_enter: 'Enters an area',
  geofence_exit: 'Leaves an area',
  low_12v: '12 V battery low',
};

export const eventOptions = ALERT_EVENTS.map((e) => ({ value: e, label: eventLabels[e] }));

/**
 * The metric picker: every catalog metric, labelled with its unit as the user reads it ("Battery level
 * (%)", "Speed (mph)" for who reads miles). A function, as the units may change while the page is open.
 */
export function metricOptions(): Array<{ value: string; label: string }> {
  return metricKeys.map((key) => {
    const def = metricCatalog.get(key) as MetricDefinition;
    const unit = metricUnit(key);
    return { value: key, label: unit ? `${def.label} (${unit})` : def.label };
  });
}

/**
 * A converted number as a form shows it: at most 4 decimals (62.1371 mph), so that a threshold stored
 * in km/h does not read as 62.13711922373339; canonical values are shown as stored.
 */
function shownNumber(value: number, converted: boolean): string {
  return converted ? String(Math.round(value * 1e4) / 1e4) : String(value);
}

/** "Plausible range 0 – 100 %" for numbers (in the user's units), the allowed values for an enum. */
export function metricHint(metric: string): string | null {
  const def = metricCatalog.get(metric);
  if (!def) return null;
  if (def.type === 'number' && def.min !== undefined && def.max !== undefined) {
    const unit = unitOf(metric);
    const round = (v: number) => String(Math.round(toDisplay(v, unit).value * 10) / 10);
    const label = metricUnit(metric);
    return `Plausible range ${round(def.min)} – ${round(def.max)}${label ? ` ${label}` : ''}`;
  }
  return null;
}

/** The threshold of a numeric condition in the user's units, as the form's input shows it. */
export function thresholdToForm(metric: string, value: number): string {
  const unit = unitOf(metric);
  return shownNumber(toDisplay(value, unit).value, displayUnitOf(unit) !== unit);
}

/** A hysteresis (a difference) in the user's units, as the form shows it. */
export function hysteresisToForm(metric: string, value: number): string {
  const unit = unitOf(metric);
  return shownNumber(differenceToDisplay(value, unit), displayUnitOf(unit) !== unit);
}

const canonicalUnitLabels: Record<string, string> = { 'km/h': 'kmh', km: 'km', '°C': 'c', kPa: 'kpa' };

/**
 * An alert's message in the user's units: the server writes values with the catalog's units
 * ("Speed 120 km/h > 100 km/h"); for who reads miles it says "Speed 75 mph > 62 mph". Values in other
 * units, and every message of a user who reads the canonical units, stay as the server wrote them.
 */
export function alertMessageForDisplay(message: string): string {
  const units = displayUnits();
  if (units.distance === 'km' && units.temperature === 'c' && units.pressure === 'kpa') return message;
  return message.replace(/(-?\d+(?:\.\d+)?(?:e-?\d+)?) (km\/h|km|°C|kPa)(?![\w/])/g, (whole, n, label) => {
    const value = Number(n);
    const code = canonicalUnitLabels[label as string];
    return Number.isFinite(value) && code ? formatValue(value, code) : whole;
  });
}

/** What a condition says: "Battery level < 20 % for 1 min (hysteresis 2)". */
export function describeCondition(condition: AlertCondition): string {
  const def = metricCatalog.get(condition.metric);
  const value =
    typeof condition.value === 'number'
      ? formatMetric(condition.metric, condition.value)
      : typeof condition.value === 'boolean'
        ? condition.value
          ? 'yes'
          : 'no'
        : condition.value;
  let text = `${def?.label ?? condition.metric} ${opSymbols[condition.op]} ${value}`;
  if (condition.forS) text += ` for ${formatDuration(condition.forS * 1000)}`;
  if (condition.hysteresis) {
    const unit = metricUnit(condition.metric);
    text += ` (hysteresis ${hysteresisToForm(condition.metric, condition.hysteresis)}${unit ? ` ${unit}` : ''})`;
  }
  return text;
}

export function describeEvent(event: AlertEventSpec): string {
  switch (event.type) {
    case 'offline':
      return `No data for ${formatDuration((event.forS ?? 0) * 1000)}`;
    case 'geofence_enter':
    case 'geofence_exit': {
      const g = event.geofence;
      const where = g ? `${formatRadius(g.radiusM)} around ${g.lat.toFixed(4)}, ${g.lon.toFixed(4)}` : '';
      return `${event.type === 'geofence_enter' ? 'Enters' : 'Leaves'} ${where}`.trim();
    }
    case 'low_12v':
      return `12 V battery below ${event.thresholdV ?? 11.8} V${event.forS ? ` for ${formatDuration(event.forS * 1000)}` : ''}`;
    default:
      return eventLabels[event.type];
  }
}

function formatRadius(m: number): string {
  return m >= 1000 ? `${Number((m / 1000).toFixed(2))} km` : `${m} m`;
}

export function describeRule(rule: Pick<AlertRule, 'condition' | 'event'>): string {
  if (rule.condition) return describeCondition(rule.condition);
  if (rule.event) return describeEvent(rule.event);
  return '—';
}

/** `ownEmail`: the reader's address when the rule is theirs (an email without `to` goes to its owner). */
export function describeChannel(channel: AlertChannel, ownEmail: string | null): string {
  switch (channel.type) {
    case 'email':
      return `Email to ${channel.to ?? ownEmail ?? 'the rule’s owner'}`;
    case 'webhook':
      return `Webhook ${channel.url}`;
    case 'inapp':
      return 'In the dashboard';
  }
}

/** The rule form as typed: text for every input, so half-typed numbers survive re-renders. */
export interface RuleForm {
  name: string;
  kind: 'condition' | 'event';
  metric: string;
  op: AlertOp;
  value: string;
  forS: string;
  hysteresis: string;
  event: AlertEvent;
  eventForS: string;
  lat: string;
  lon: string;
  radiusM: string;
  thresholdV: string;
  /** '' = every vehicle the user manages, now and later. */
  vehicleId: string;
  cooldownS: string;
  email: boolean;
  /** '' = the user's own address. */
  emailTo: string;
  webhook: boolean;
  webhookUrl: string;
  allowPrivate: boolean;
  inapp: boolean;
  enabled: boolean;
  /**
   * The stored (canonical) threshold and hysteresis of the rule being edited, with the text the form
   * first showed for them in the user's units: saved unchanged, the exact stored value is kept (the
   * rounded text converted back would move it a little each time).
   */
  stored?: {
    metric: string;
    value?: { shown: string; value: number };
    hysteresis?: { shown: string; value: number };
  };
}

/**
 * Where an error shows in the form: one key per input (`condition.value`, `event.geofence.lat`) and one
 * per channel (`channels.email`, `channels.webhook`).
 */
export type FieldKey =
  | 'name'
  | 'vehicleId'
  | 'condition.metric'
  | 'condition.op'
  | 'condition.value'
  | 'condition.forS'
  | 'condition.hysteresis'
  | 'event.type'
  | 'event.forS'
  | 'event.geofence.lat'
  | 'event.geofence.lon'
  | 'event.geofence.radiusM'
  | 'event.thresholdV'
  | 'cooldownS'
  | 'channels'
  | 'channels.email'
  | 'channels.webhook'
  | 'channels.inapp'
  | 'enabled';

const fieldKeys: readonly FieldKey[] = [
  'name',
  'vehicleId',
  'condition.metric',
  'condition.op',
  'condition.value',
  'condition.forS',
  'condition.hysteresis',
  'event.type',
  'event.forS',
  'event.geofence.lat',
  'event.geofence.lon',
  'event.geofence.radiusM',
  'event.thresholdV',
  'cooldownS',
  'channels',
  'channels.email',
  'channels.webhook',
  'channels.inapp',
  'enabled',
];

export type FieldErrors = Partial<Record<FieldKey, string>>;

export function emptyRuleForm(): RuleForm {
  return {
    name: '',
    kind: 'condition',
    metric: 'battery_level_pct',
    op: '<',
    value: '',
    forS: '',
    hysteresis: '',
    event: 'offline',
    eventForS: '',
    lat: '',
    lon: '',
    radiusM: '',
    thresholdV: '',
    vehicleId: '',
    cooldownS: '',
    email: true,
    emailTo: '',
    webhook: false,
    webhookUrl: '',
    allowPrivate: false,
    inapp: true,
    enabled: true,
  };
}

const text = (n: number | undefined | null) => (n === undefined || n === null ? '' : String(n));

/** The form showing a stored rule, for editing. */
export function ruleToForm(rule: AlertRule, ownEmail: string): RuleForm {
  const form = emptyRuleForm();
  const email = rule.channels.find((c) => c.type === 'email');
  const webhook = rule.channels.find((c) => c.type === 'webhook');
  Object.assign(form, {
    name: rule.name,
    vehicleId: rule.vehicleId ?? '',
    cooldownS: String(rule.cooldownS),
    enabled: rule.enabled,
    email: Boolean(email),
    emailTo: email?.to && email.to !== ownEmail ? email.to : '',
    webhook: Boolean(webhook),
    webhookUrl: webhook?.url ?? '',
    allowPrivate: webhook?.allowPrivate ?? false,
    inapp: rule.channels.some((c) => c.type === 'inapp'),
  });
  if (rule.condition) {
    const c = rule.condition;
    const value = typeof c.value === 'number' ? thresholdToForm(c.metric, c.value) : String(c.value);
    const hysteresis = c.hysteresis === undefined ? '' : hysteresisToForm(c.metric, c.hysteresis);
    Object.assign(form, {
      kind: 'condition',
      metric: c.metric,
      op: c.op,
      value,
      forS: text(c.forS),
      hysteresis,
      stored: {
        metric: c.metric,
        ...(typeof c.value === 'number' ? { value: { shown: value, value: c.value } } : {}),
        ...(c.hysteresis !== undefined ? { hysteresis: { shown: hysteresis, value: c.hysteresis } } : {}),
      },
    });
  } else if (rule.event) {
    const e = rule.event;
    Object.assign(form, {
      kind: 'event',
      event: e.type,
      eventForS: text(e.forS),
      lat: text(e.geofence?.lat),
      lon: text(e.geofence?.lon),
      radiusM: text(e.geofence?.radiusM),
      thresholdV: text(e.thresholdV),
    });
  }
  return form;
}

/** When the metric changes, the operator and value must still fit its type. */
export function withMetric(form: RuleForm, metric: string): RuleForm {
  const ops = opsFor(metric);
  const def = metricCatalog.get(metric);
  const sameType = metricCatalog.get(form.metric)?.type === def?.type;
  let value = sameType ? form.value : '';
  if (def?.type === 'enum' && !def.values?.includes(value)) value = def.values?.[0] ?? '';
  if (def?.type === 'boolean' && value !== 'true' && value !== 'false') value = 'true';
  return {
    ...form,
    metric,
    op: ops.includes(form.op) ? form.op : (ops[0] as AlertOp),
    value,
    hysteresis: def?.type === 'number' ? form.hysteresis : '',
  };
}

/** What the form sends, with the field each channel came from, or the fields that need fixing first. */
export type BuiltRule =
  | { ok: true; rule: CreateAlertRule; channelFields: FieldKey[] }
  | { ok: false; errors: FieldErrors };

function parseNumber(
  raw: string,
  errors: FieldErrors,
  key: FieldKey,
  options: { required?: boolean; integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const trimmed = raw.trim();
  if (trimmed === '') {
    if (options.required) errors[key] = 'Required.';
    return undefined;
  }
  const n = Number(trimmed);
  if (!Number.isFinite(n)) errors[key] = 'Enter a number.';
  else if (options.integer && !Number.isInteger(n)) errors[key] = 'Enter a whole number.';
  else if (options.min !== undefined && n < options.min) errors[key] = `At least ${options.min}.`;
  else if (options.max !== undefined && n > options.max) errors[key] = `At most ${options.max}.`;
  else return n;
  return undefined;
}

const WEEK_S = 7 * 86_400;

/** Checks the form as far as the browser can, and builds the request body. */
export function buildRule(form: RuleForm): BuiltRule {
  const errors: FieldErrors = {};
  if (!form.name.trim()) errors.name = 'Give the rule a name.';
  const rule: CreateAlertRule = {
    name: form.name.trim(),
    vehicleId: form.vehicleId || null,
    channels: [],
    enabled: form.enabled,
  };
  const seconds = { integer: true, min: 0, max: WEEK_S };

  if (form.kind === 'condition') {
    const def = metricCatalog.get(form.metric);
    if (!def) errors['condition.metric'] = 'Choose a metric.';
    // Numbers are typed in the user's units and stored in the catalog's (lib/units.ts).
    const unit = unitOf(form.metric);
    const stored = form.stored?.metric === form.metric ? form.stored : undefined;
    let value: AlertCondition['value'] | undefined;
    if (def?.type === 'number') {
      value = parseNumber(form.value, errors, 'condition.value', { required: true });
      if (value !== undefined)
        value = stored?.value?.shown === form.value.trim() ? stored.value.value : fromDisplay(value, unit);
    } else if (def?.type === 'boolean') value = form.value === 'true';
    else if (form.value === '') errors['condition.value'] = 'Required.';
    else value = form.value;
    const forS = parseNumber(form.forS, errors, 'condition.forS', seconds);
    let hysteresis = parseNumber(form.hysteresis, errors, 'condition.hysteresis', { min: 0 });
    if (hysteresis !== undefined)
      hysteresis =
        stored?.hysteresis?.shown === form.hysteresis.trim()
          ? stored.hysteresis.value
          : differenceFromDisplay(hysteresis, unit);
    if (value !== undefined)
      rule.condition = {
        metric: form.metric,
        op: form.op,
        value,
        ...(forS !== undefined ? { forS } : {}),
        ...(hysteresis !== undefined && def?.type === 'number' ? { hysteresis } : {}),
      };
  } else {
    const event: AlertEventSpec = { type: form.event };
    if (form.event === 'offline' || form.event === 'low_12v') {
      const forS = parseNumber(form.eventForS, errors, 'event.forS', {
        ...seconds,
        required: form.event === 'offline',
      });
      if (forS !== undefined) event.forS = forS;
    }
    if (form.event === 'geofence_enter' || form.event === 'geofence_exit') {
      const lat = parseNumber(form.lat, errors, 'event.geofence.lat', { required: true, min: -90, max: 90 });
      const lon = parseNumber(form.lon, errors, 'event.geofence.lon', {
        required: true,
        min: -180,
        max: 180,
      });
      const radiusM = parseNumber(form.radiusM, errors, 'event.geofence.radiusM', {
        required: true,
        min: 1,
        max: 1_000_000,
      });
      if (lat !== undefined && lon !== undefined && radiusM !== undefined)
        event.geofence = { lat, lon, radiusM };
    }
    if (form.event === 'low_12v') {
      const v = parseNumber(form.thresholdV, errors, 'event.thresholdV', { min: 0, max: 32 });
      if (v !== undefined) event.thresholdV = v;
    }
    rule.event = event;
  }

  const cooldownS = parseNumber(form.cooldownS, errors, 'cooldownS', seconds);
  if (cooldownS !== undefined) rule.cooldownS = cooldownS;

  const channelFields: FieldKey[] = [];
  if (form.email) {
    const to = form.emailTo.trim();
    rule.channels.push(to ? { type: 'email', to } : { type: 'email' });
    channelFields.push('channels.email');
  }
  if (form.webhook) {
    const url = form.webhookUrl.trim();
    if (!url) errors['channels.webhook'] = 'Enter the URL to post to.';
    else if (!/^https?:\/\//i.test(url)) errors['channels.webhook'] = 'An http:// or https:// URL.';
    rule.channels.push(
      form.allowPrivate ? { type: 'webhook', url, allowPrivate: true } : { type: 'webhook', url },
    );
    channelFields.push('channels.webhook');
  }
  if (form.inapp) {
    rule.channels.push({ type: 'inapp' });
    channelFields.push('channels.inapp');
  }
  if (rule.channels.length === 0) errors.channels = 'Choose at least one way to be told.';

  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, rule, channelFields };
}

/**
 * The form field a server refusal names, and what it says about it. Domain errors read
 * `condition.value: must be a number`; schema errors `body/channels/1/url must match format "uri"`; a
 * channel's index is mapped back to its checkbox through `channelFields`. Null when it names no field.
 */
export function fieldOfError(
  message: string,
  channelFields: readonly FieldKey[] = [],
): { field: FieldKey; message: string } | null {
  let path: string[] | null = null;
  let rest = message;
  const schema = /^body((?:\/[\w-]+)*)\s+(.*)$/s.exec(message);
  const domain = /^([A-Za-z][\w]*(?:(?:\.[\w]+)|(?:\[\d+\]))*):\s*(.*)$/s.exec(message);
  if (schema) {
    path = (schema[1] ?? '').split('/').filter(Boolean);
    rest = schema[2] ?? message;
    const missing = /required property '([\w]+)'/.exec(rest);
    if (missing?.[1]) path.push(missing[1]);
  } else if (domain) {
    path = (domain[1] ?? '').replace(/\[(\d+)\]/g, '.$1').split('.');
    rest = domain[2] ?? message;
  }
  if (!path || path.length === 0) return null;
  if (path[0] === 'channels' && path[1] !== undefined && /^\d+$/.test(path[1])) {
    return { field: channelFields[Number(path[1])] ?? 'channels', message: rest };
  }
  const joined = path.join('.');
  const exact = fieldKeys.find((k) => k === joined);
  if (exact) return { field: exact, message: rest };
  // `event.geofence.lat.x` → the closest input above it; `condition` → the first input inside it.
  const above = fieldKeys.filter((k) => joined.startsWith(`${k}.`)).sort((a, b) => b.length - a.length)[0];
  const below = fieldKeys.find((k) => k.startsWith(`${joined}.`));
  const field = above ?? below;
  return field ? { field, message: rest } : null;
}

/** A live frame applied to a shown page: the alert replaced where it is shown. */
export function replaceAlert(page: AlertPage, alert: Alert): AlertPage {
  if (!page.items.some((a) => a.id === alert.id)) return page;
  return { ...page, items: page.items.map((a) => (a.id === alert.id ? alert : a)) };
}

/**
 * The newest page asked again, merged into what is shown: the fresh page first, then what was shown
 * beyond it (older pages the user opened), each alert once.
 */
export function mergeFirstPage(shown: AlertPage, fresh: AlertPage): AlertPage {
  if (fresh.nextBefore === null) return fresh;
  const seen = new Set(fresh.items.map((a) => a.id));
  const beyond = shown.items.filter((a) => !seen.has(a.id));
  return beyond.length === 0 ? fresh : { items: [...fresh.items, ...beyond], nextBefore: shown.nextBefore };
}

/** The unresolved alerts: open ones first, then acknowledged, newest first within each. */
export function needsAttention(open: readonly Alert[], acknowledged: readonly Alert[]): Alert[] {
  const byNewest = (a: Alert, b: Alert) => b.firedMs - a.firedMs;
  return [...[...open].sort(byNewest), ...[...acknowledged].sort(byNewest)];
}

/**
 * `YYYY-MM-DD` of a date input → epoch ms of that local midnight, or for an end (`to` is inclusive) the
 * last millisecond of that day.
 */
export function dayToMs(day: string, end = false): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return undefined;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + (end ? 1 : 0));
  return date.getTime() - (end ? 1 : 0);
}
