import { type Static, Type } from 'typebox';

/**
 * Alert rules and alerts (`/api/v1/alert-rules`, `/api/v1/alerts`). A rule watches one catalog metric
 * (a condition) or an event; it fires once per episode, and the alert it opens resolves by itself when
 * the condition clears. Times are epoch milliseconds.
 */

export const ALERT_OPS = ['<', '<=', '>', '>=', '==', '!='] as const;
export const AlertOp = Type.Union([
  Type.Literal('<'),
  Type.Literal('<='),
  Type.Literal('>'),
  Type.Literal('>='),
  Type.Literal('=='),
  Type.Literal('!='),
]);
export type AlertOp = Static<typeof AlertOp>;

export const ALERT_EVENTS = [
  'offline',
  'drive_started',
  'drive_ended',
  'charge_started',
  'charge_completed',
  'dtc_appeared',
  'geofence_enter',
  'geofence_exit',
  'low_12v',
] as const;
export const AlertEvent = Type.Union([
  Type.Literal('offline'),
  Type.Literal('drive_started'),
  Type.Literal('drive_ended'),
  Type.Literal('charge_started'),
  Type.Literal('charge_completed'),
  Type.Literal('dtc_appeared'),
  Type.Literal('geofence_enter'),
  Type.Literal('geofence_exit'),
  Type.Literal('low_12v'),
]);
export type AlertEvent = Static<typeof AlertEvent>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
/** Up to a week. */
const Seconds = Type.Integer({ minimum: 0, maximum: 7 * 86_400 });

export const AlertCondition = Type.Object(
  {
    metric: Type.String({ minLength: 1, maxLength: 64 }),
    op: AlertOp,
    value: Type.Union([Type.Number(), Type.String({ maxLength: 256 }), Type.Boolean()]),
    /** The condition must hold this long before the rule fires. */
    forS: Type.Optional(Seconds),
    /** It resolves only once the value is back beyond the threshold by this much (numeric ops). */
    hysteresis: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type AlertCondition = Static<typeof AlertCondition>;

export const Geofence = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    radiusM: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);
export type Geofence = Static<typeof Geofence>;

export const AlertEventSpec = Type.Object(
  {
    type: AlertEvent,
    /** `offline`: no data for this long (required); `low_12v`: below this long. */
    forS: Type.Optional(Seconds),
    /** `geofence_enter` / `geofence_exit`: the circle. */
    geofence: Type.Optional(Geofence),
    /** `low_12v`: the voltage below which it fires (default 11.8 V). */
    thresholdV: Type.Optional(Type.Number({ minimum: 0, maximum: 32 })),
  },
  { additionalProperties: false },
);
export type AlertEventSpec = Static<typeof AlertEventSpec>;

export const AlertChannel = Type.Union([
  Type.Object(
    {
      type: Type.Literal('email'),
      /** Defaults to the rule owner's own address; another address needs the admin role. */
      to: Type.Optional(Type.String({ minLength: 3, maxLength: 254 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('webhook'),
      url: Type.String({ minLength: 1, maxLength: 2048 }),
      /**
       * Allows http:// and private, loopback and link-local addresses (admins only): a receiver inside
       * the operator's own network.
       */
      allowPrivate: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('inapp') }, { additionalProperties: false }),
]);
export type AlertChannel = Static<typeof AlertChannel>;

export const CreateAlertRule = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 120 }),
    /** null: every vehicle the owner manages, now and later. */
    vehicleId: Nullable(Type.String({ minLength: 1, maxLength: 64 })),
    condition: Type.Optional(AlertCondition),
    event: Type.Optional(AlertEventSpec),
    cooldownS: Type.Optional(Seconds),
    channels: Type.Array(AlertChannel, { maxItems: 10 }),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateAlertRule = Static<typeof CreateAlertRule>;

export const UpdateAlertRule = Type.Partial(CreateAlertRule, { additionalProperties: false });
export type UpdateAlertRule = Static<typeof UpdateAlertRule>;

export const AlertRule = Type.Object({
  id: Type.String(),
  name: Type.String(),
  ownerId: Type.String(),
  vehicleId: Nullable(Type.String()),
  condition: Nullable(AlertCondition),
  event: Nullable(AlertEventSpec),
  cooldownS: Type.Integer(),
  channels: Type.Array(AlertChannel),
  enabled: Type.Boolean(),
  /**
   * The key of `X-Tacho-Signature` (HMAC-SHA256 of each webhook body): shown to who may manage the rule,
   * null to others.
   */
  webhookSecret: Nullable(Type.String()),
  createdMs: Type.Integer(),
  updatedMs: Type.Integer(),
});
export type AlertRule = Static<typeof AlertRule>;

export const AlertRuleList = Type.Object({ items: Type.Array(AlertRule) });
export type AlertRuleList = Static<typeof AlertRuleList>;

export const AlertState = Type.Union([
  Type.Literal('open'),
  Type.Literal('acknowledged'),
  Type.Literal('resolved'),
]);
export type AlertState = Static<typeof AlertState>;

export const Alert = Type.Object({
  id: Type.String(),
  /** null once the rule was deleted (the alert stays in the history). */
  ruleId: Nullable(Type.String()),
  ruleName: Type.String(),
  vehicleId: Type.String(),
  state: AlertState,
  /** Device time of the reading (or event) that fired it. */
  firedMs: Type.Integer(),
  /** What it says, e.g. "Battery level 18 % < 20 %". */
  message: Type.String(),
  value: Type.Unknown(),
  acknowledgedMs: Nullable(Type.Integer()),
  acknowledgedBy: Nullable(Type.String()),
  resolvedMs: Nullable(Type.Integer()),
});
export type Alert = Static<typeof Alert>;

/** `?state=&vehicleId=&ruleId=&from=&to=&before=&limit=`: open ones first, then newest first. */
export const AlertsQuery = Type.Object({
  state: Type.Optional(AlertState),
  vehicleId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  ruleId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  from: Type.Optional(Type.Integer({ minimum: 0 })),
  to: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  before: Type.Optional(Type.String({ maxLength: 200 })),
});
export type AlertsQuery = Static<typeof AlertsQuery>;

export const AlertPage = Type.Object({
  items: Type.Array(Alert),
  /** Pass as `before` for the next page; null at the end. */
  nextBefore: Nullable(Type.String()),
});
export type AlertPage = Static<typeof AlertPage>;

export const AlertDelivery = Type.Object({
  id: Type.String(),
  channel: Type.Union([Type.Literal('email'), Type.Literal('webhook'), Type.Literal('inapp')]),
  /** The address or URL. */
  target: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')]),
  attempts: Type.Array(
    Type.Object({
      atMs: Type.Integer(),
      ok: Type.Boolean(),
      /** The receiver's HTTP status, when it answered. */
      status: Nullable(Type.Integer()),
      error: Nullable(Type.String()),
      durationMs: Type.Integer(),
    }),
  ),
  nextAttemptMs: Nullable(Type.Integer()),
  sentMs: Nullable(Type.Integer()),
});
export type AlertDelivery = Static<typeof AlertDelivery>;

export const AlertDeliveryList = Type.Object({ items: Type.Array(AlertDelivery) });
export type AlertDeliveryList = Static<typeof AlertDeliveryList>;

/** `POST /api/v1/alert-rules/:id/test`: one notification through each channel, now. */
export const AlertTestResult = Type.Object({
  results: Type.Array(
    Type.Object({
      channel: Type.String(),
      target: Type.String(),
      ok: Type.Boolean(),
      error: Nullable(Type.String()),
    }),
  ),
});
export type AlertTestResult = Static<typeof AlertTestResult>;

/** Live socket: a new, acknowledged or resolved alert of a subscribed vehicle. */
export const AlertLiveMessage = Type.Object({
  type: Type.Literal('alert'),
  alert: Alert,
});
export type AlertLiveMessage = Static<typeof AlertLiveMessage>;
