import { type Static, Type } from 'typebox';

/** A metric value as devices send it. */
export const MetricValue = Type.Union([Type.Number(), Type.String(), Type.Boolean()]);
export type MetricValue = Static<typeof MetricValue>;

export const Position = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    alt_m: Type.Optional(Type.Number()),
    heading_deg: Type.Optional(Type.Number({ minimum: 0, maximum: 360 })),
    speed_kmh: Type.Optional(Type.Number({ minimum: 0 })),
    accuracy_m: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type Position = Static<typeof Position>;

/**
 * The native telemetry message (`tacho/v1/<VIN>/telemetry`, `POST /api/v1/vehicles/:vin/telemetry`).
 * Every source format decodes into this shape before validation, mapping and storage.
 */
export const NativeMessage = Type.Object(
  {
    /** Device time: epoch milliseconds or an ISO-8601 string. */
    ts: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1, maxLength: 40 })]),
    /** Orders messages with the same timestamp; part of the de-duplication key. Defaults to 0. */
    seq: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    metrics: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 64 }), MetricValue)),
    position: Type.Optional(Position),
    /** Device keys as the device names them; kept for the deep scan. */
    raw: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), MetricValue)),
  },
  { additionalProperties: true },
);
export type NativeMessage = Static<typeof NativeMessage>;
