import { type Static, Type } from 'typebox';

/** Request and response shapes of the known-aliases registry (`/api/v1/aliases`). */

/** One known alias: a device key that means a canonical metric on a make/model/year. */
export const AliasView = Type.Object({
  /** Registry id; catalog entries (built in, not editable) have `catalog:<deviceKey>`. */
  id: Type.String(),
  source: Type.Union([Type.Literal('catalog'), Type.Literal('registry')]),
  make: Type.String(),
  /** '' = every model of the make. */
  model: Type.String(),
  /** 0 = every year. */
  year: Type.Integer(),
  deviceKey: Type.String(),
  /** Community name of the device key, when known (`VEHICLE_STATUS_HV_BATTERY_SOC`). */
  name: Type.Optional(Type.String()),
  canonicalKey: Type.String(),
  /** Unit the device sends; '' when it already is the canonical unit. */
  unit: Type.String(),
  /** Device value × scale = canonical value. */
  scale: Type.Number(),
  contributorId: Type.Union([Type.String(), Type.Null()]),
  /** Distinct vehicles that confirmed the entry. */
  confirmations: Type.Integer(),
  createdMs: Type.Number(),
  updatedMs: Type.Number(),
});
export type AliasView = Static<typeof AliasView>;

export const AliasQuery = Type.Object({
  make: Type.String({ minLength: 1, maxLength: 64 }),
  model: Type.Optional(Type.String({ maxLength: 64 })),
  year: Type.Optional(Type.Integer({ minimum: 1900, maximum: 2200 })),
});
export type AliasQuery = Static<typeof AliasQuery>;

const DeviceKey = Type.String({ minLength: 1, maxLength: 128 });
const CanonicalKey = Type.String({ minLength: 1, maxLength: 64 });
const Unit = Type.String({ maxLength: 32 });
const Scale = Type.Number({ exclusiveMinimum: -1e9, exclusiveMaximum: 1e9 });

/**
 * What a user discovered. With `vehicleId` the make, model and year default to that vehicle's and the
 * vehicle counts as confirming the entry; without it `make` is required.
 */
export const CreateAliasRequest = Type.Object(
  {
    vehicleId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    make: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    model: Type.Optional(Type.String({ maxLength: 64 })),
    year: Type.Optional(Type.Integer({ minimum: 0, maximum: 2200 })),
    deviceKey: DeviceKey,
    canonicalKey: CanonicalKey,
    unit: Type.Optional(Unit),
    scale: Type.Optional(Scale),
  },
  { additionalProperties: false },
);
export type CreateAliasRequest = Static<typeof CreateAliasRequest>;

/** Admin correction of an entry. */
export const UpdateAliasRequest = Type.Object(
  {
    model: Type.Optional(Type.String({ maxLength: 64 })),
    year: Type.Optional(Type.Integer({ minimum: 0, maximum: 2200 })),
    deviceKey: Type.Optional(DeviceKey),
    canonicalKey: Type.Optional(CanonicalKey),
    unit: Type.Optional(Unit),
    scale: Type.Optional(Scale),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateAliasRequest = Static<typeof UpdateAliasRequest>;

/** Registry entries to list on the Aliases page: of one make and model, or all. */
export const AliasRegistryQuery = Type.Object(
  {
    make: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    model: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type AliasRegistryQuery = Static<typeof AliasRegistryQuery>;

/**
 * A registry entry with where it stands: `pending` until `needed` distinct vehicles confirmed it (it
 * applies only to the vehicles that confirmed it), then `applied` (every vehicle of the model decodes it).
 */
export const AliasRegistryEntry = Type.Object({
  ...AliasView.properties,
  state: Type.Union([Type.Literal('pending'), Type.Literal('applied')]),
});
export type AliasRegistryEntry = Static<typeof AliasRegistryEntry>;

export const AliasRegistryList = Type.Object(
  {
    /** Confirmations (distinct vehicles) an entry needs to apply to every vehicle of its model. */
    needed: Type.Integer({ minimum: 1 }),
    items: Type.Array(AliasRegistryEntry),
  },
  { additionalProperties: false },
);
export type AliasRegistryList = Static<typeof AliasRegistryList>;

/** Device keys a model's cars actually sent (the VinFast connector's and pushes'), from the caller's cars. */
export const AliasSeenKey = Type.Object(
  {
    deviceKey: Type.String(),
    name: Type.Optional(Type.String()),
    /** How many of the model's cars sent it. */
    vehicles: Type.Integer({ minimum: 1 }),
    /** What it is decoded as today (catalog or an applied alias), or null: raw only. */
    canonicalKey: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type AliasSeenKey = Static<typeof AliasSeenKey>;

export const AliasSeenModel = Type.Object(
  {
    make: Type.String(),
    model: Type.String(),
    year: Type.Integer(),
    vehicles: Type.Integer({ minimum: 1 }),
    keys: Type.Array(AliasSeenKey),
  },
  { additionalProperties: false },
);
export type AliasSeenModel = Static<typeof AliasSeenModel>;

export const AliasSeenList = Type.Object(
  { models: Type.Array(AliasSeenModel) },
  { additionalProperties: false },
);
export type AliasSeenList = Static<typeof AliasSeenList>;
