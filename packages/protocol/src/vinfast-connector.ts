import { type Static, Type } from 'typebox';

/**
 * The VinFast connector (`/api/v1/connectors/vinfast/...`): VinFast accounts a user signed in to with
 * email and password (the password goes to VinFast and is never stored), their vehicles, and which of
 * them are Tacho vehicles. Tokens never leave the server.
 */

export const VinFastRegion = Type.Union([Type.Literal('vn'), Type.Literal('us'), Type.Literal('eu')]);
export type VinFastRegion = Static<typeof VinFastRegion>;

export const ConnectVinFast = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    /** vn (Vietnam), us (United States) or eu (Europe): decides VinFast's sign-in and API hosts. */
    region: VinFastRegion,
  },
  { additionalProperties: false },
);
export type ConnectVinFast = Static<typeof ConnectVinFast>;

/** The live connection of an account: connecting, live, waiting (to retry), reauth, stopped; null: none yet. */
export const VinFastStreamState = Type.Union([
  Type.Literal('connecting'),
  Type.Literal('live'),
  Type.Literal('waiting'),
  Type.Literal('reauth'),
  Type.Literal('stopped'),
  Type.Null(),
]);

export const VinFastAccount = Type.Object(
  {
    id: Type.String(),
    /** The VinFast account's email. */
    label: Type.String(),
    region: Type.String(),
    ownerId: Type.String(),
    state: Type.Union([
      Type.Literal('connected'),
      Type.Literal('refreshing'),
      Type.Literal('reauth_needed'),
      Type.Literal('error'),
    ]),
    /** Why, in words, when the state asks for something ("sign in to VinFast again"). */
    stateReason: Type.Union([Type.String(), Type.Null()]),
    stream: VinFastStreamState,
    streamReason: Type.Union([Type.String(), Type.Null()]),
    vehicleCount: Type.Integer({ minimum: 0 }),
    createdMs: Type.Integer(),
  },
  { additionalProperties: false },
);
export type VinFastAccount = Static<typeof VinFastAccount>;

export const VinFastAccountList = Type.Object(
  { items: Type.Array(VinFastAccount) },
  { additionalProperties: false },
);
export type VinFastAccountList = Static<typeof VinFastAccountList>;

export const VinFastVehicleItem = Type.Object(
  {
    vin: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    model: Type.Union([Type.String(), Type.Null()]),
    year: Type.Union([Type.Integer(), Type.Null()]),
    /** The Tacho vehicle it is linked to, or null when not added. */
    vehicleId: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type VinFastVehicleItem = Static<typeof VinFastVehicleItem>;

export const VinFastVehicleList = Type.Object(
  { items: Type.Array(VinFastVehicleItem) },
  { additionalProperties: false },
);
export type VinFastVehicleList = Static<typeof VinFastVehicleList>;

export const AddVinFastVehicle = Type.Object(
  { vin: Type.String({ minLength: 17, maxLength: 17 }) },
  { additionalProperties: false },
);
export type AddVinFastVehicle = Static<typeof AddVinFastVehicle>;

export const AddedVinFastVehicle = Type.Object({ vehicleId: Type.String() }, { additionalProperties: false });
export type AddedVinFastVehicle = Static<typeof AddedVinFastVehicle>;
