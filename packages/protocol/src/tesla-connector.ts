import { type Static, Type } from 'typebox';

/**
 * The Tesla connector (`/api/v1/connectors/tesla/...`): Tesla accounts a user signed in to, their
 * vehicles, and which of them are Tacho vehicles. Tokens never leave the server.
 */

export const TeslaStart = Type.Object(
  {
    /** Tesla's sign-in page; the browser goes there and comes back to the callback. */
    url: Type.String(),
  },
  { additionalProperties: false },
);
export type TeslaStart = Static<typeof TeslaStart>;

/**
 * `POST /api/v1/connectors/tesla/finish`: what Tesla sent back, when the browser came back signed out
 * (the page renews its login and posts it).
 */
export const TeslaFinish = Type.Object(
  {
    state: Type.String({ minLength: 1, maxLength: 256 }),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type TeslaFinish = Static<typeof TeslaFinish>;

/** How a Tesla sign-in ended: `connected` with the account, or `error` with its code in a word. */
export const TeslaSignInOutcome = Type.Object(
  {
    outcome: Type.Union([Type.Literal('connected'), Type.Literal('error')]),
    accountId: Type.Optional(Type.String()),
    /** expired, signed_out, denied, refused, unreachable, not_configured. */
    error: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type TeslaSignInOutcome = Static<typeof TeslaSignInOutcome>;

export const ConnectorAccountState = Type.Union([
  Type.Literal('connected'),
  Type.Literal('refreshing'),
  Type.Literal('reauth_needed'),
  Type.Literal('error'),
]);
export type ConnectorAccountState = Static<typeof ConnectorAccountState>;

export const TeslaAccount = Type.Object(
  {
    id: Type.String(),
    /** The Tesla account's email, or its id when Tesla gave no email. */
    label: Type.String(),
    region: Type.String(),
    ownerId: Type.String(),
    state: ConnectorAccountState,
    /** Why, in words, when the state asks for something (e.g. "sign in to Tesla again"). */
    stateReason: Type.Union([Type.String(), Type.Null()]),
    /** Fleet API requests made today (UTC) and the daily budget. */
    requestsToday: Type.Integer({ minimum: 0 }),
    requestBudget: Type.Integer({ minimum: 0 }),
    vehicleCount: Type.Integer({ minimum: 0 }),
    createdMs: Type.Integer(),
  },
  { additionalProperties: false },
);
export type TeslaAccount = Static<typeof TeslaAccount>;

export const TeslaAccountList = Type.Object(
  {
    items: Type.Array(TeslaAccount),
    /** False when the server has no Tesla application configured (TACHO_TESLA_CLIENT_ID). */
    configured: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type TeslaAccountList = Static<typeof TeslaAccountList>;

export const TeslaVehicleItem = Type.Object(
  {
    vin: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    /** Tesla's state: online, asleep, offline. */
    state: Type.String(),
    /** The Tacho vehicle it is linked to, or null when not added. */
    vehicleId: Type.Union([Type.String(), Type.Null()]),
    /** What the poller last saw: asleep, online, driving, charging, suspended (letting it sleep)... */
    pollState: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type TeslaVehicleItem = Static<typeof TeslaVehicleItem>;

export const TeslaVehicleList = Type.Object(
  { items: Type.Array(TeslaVehicleItem) },
  { additionalProperties: false },
);
export type TeslaVehicleList = Static<typeof TeslaVehicleList>;

export const AddTeslaVehicle = Type.Object(
  { vin: Type.String({ minLength: 17, maxLength: 17 }) },
  { additionalProperties: false },
);
export type AddTeslaVehicle = Static<typeof AddTeslaVehicle>;
