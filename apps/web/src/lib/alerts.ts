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
import { formatDuration } from './format.js';
import { formatMetric } from './metrics.js';

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

/** The metric picker: every catalog metric, labelled with its unit ("Battery level (%)"). */
export const metricOptions = metricKeys.map((key) => {
  const def = metricCatalog.get(key) as MetricDefinition;
  return { value: key, label: def.unit ? `${def.label} (${def.unit})` : def.label };
});

/** "Plausible range 0 – 100 %" for numbers, the allowed values for an enum. */
export function metricHint(metric: string): string | null {
  const def = metricCatalog.get(metric);
  if (!def) return null;
  if (def.type === 'number' && def.min !== undefined && def.max !== undefined)
    return `Plausible range ${def.min} – ${def.max}${def.unit ? ` ${def.unit}` : ''}`;
  return null;
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
  if (condition.hysteresis) text += ` (hysteresis ${condition.hysteresis}${def?.unit ? ` ${def.unit}` : ''})`;
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
    Object.assign(form, {
      kind: 'condition',
      metric: c.metric,
      op: c.op,
      value: String(c.value),
      forS: text(c.forS),
      hysteresis: text(c.hysteresis),
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
    let value: AlertCondition['value'] | undefined;
    if (def?.type === 'number')
      value = parseNumber(form.value, errors, 'condition.value', { required: true });
    else if (def?.type === 'boolean') value = form.value === 'true';
    else if (form.value === '') errors['condition.value'] = 'Required.';
    else value = form.value;
    const forS = parseNumber(form.forS, errors, 'condition.forS', seconds);
    const hysteresis = parseNumber(form.hysteresis, errors, 'condition.hysteresis', { min: 0 });
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
