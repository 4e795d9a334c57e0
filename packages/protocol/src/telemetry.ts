import { type Static, Type } from 'typebox';

/**
 * Telemetry over HTTP (`POST /api/v1/vehicles/:vin/telemetry`), the other formats' ingest routes, device
 * bindings, and the refused messages kept as dead letters (`GET /api/v1/admin/dead-letters`).
 */

/** The answer to a native telemetry POST, after its messages are committed. */
export const PublishResult = Type.Object({
  stored: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  /** One entry per refused message: its index in the body and why. */
  errors: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String() })),
});
export type PublishResult = Static<typeof PublishResult>;

/** The answer of the OwnTracks, OsmAnd and Overland ingest routes. */
export const IngestCounts = Type.Object({
  stored: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  errors: Type.Array(Type.String()),
});
export type IngestCounts = Static<typeof IngestCounts>;

export const DeviceBindingKind = Type.Union([Type.Literal('owntracks'), Type.Literal('osmand')]);
export type DeviceBindingKind = Static<typeof DeviceBindingKind>;

/** A phone app's device id bound to a vehicle. */
export const DeviceBindingView = Type.Object({
  kind: DeviceBindingKind,
  deviceId: Type.String(),
  vehicleId: Type.String(),
  /** Whether an OwnTracks encryption secret is set (the secret itself is never returned). */
  encrypted: Type.Boolean(),
  createdMs: Type.Number(),
});
export type DeviceBindingView = Static<typeof DeviceBindingView>;

/** `POST /api/v1/vehicles/:id/devices`: bind a phone app's device id to the vehicle. */
export const CreateDeviceBinding = Type.Object(
  {
    kind: DeviceBindingKind,
    deviceId: Type.String({ minLength: 1, maxLength: 128 }),
    /** OwnTracks' encryption secret (null: none). */
    secret: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type CreateDeviceBinding = Static<typeof CreateDeviceBinding>;

/** A refused message, kept as it arrived (its beginning, when large). */
export const DeadLetter = Type.Object({
  id: Type.Integer(),
  /** The transport and format it came by, e.g. `mqtt`, `http`. */
  source: Type.String(),
  /** The MQTT topic or HTTP route. */
  topic: Type.String(),
  /** The vehicle it named, when one could be told. */
  vehicleId: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  payload: Type.String(),
  receivedMs: Type.Integer(),
});
export type DeadLetter = Static<typeof DeadLetter>;

export const DeadLettersQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type DeadLettersQuery = Static<typeof DeadLettersQuery>;

/** Newest first, keyset-paginated by id. */
export const DeadLetterPage = Type.Object({
  items: Type.Array(DeadLetter),
  /** Pass as `before` to get the next (older) page; null on the last page. */
  nextBefore: Type.Union([Type.Integer(), Type.Null()]),
});
export type DeadLetterPage = Static<typeof DeadLetterPage>;
