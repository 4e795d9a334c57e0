import { type Static, Type } from 'typebox';

/** Request and response shapes of the auth, users, tokens and vehicles routes. */

export const Role = Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('admin')]);
export type Role = Static<typeof Role>;

/**
 * Scopes an API token can carry: `read` reads, `write` publishes and manages, `admin` manages users;
 * `telemetry` is apart from them: it only lets Tesla's fleet-telemetry server log in to the embedded
 * broker (username `tesla-fleet-telemetry`) and publish for the vehicles the token's user manages.
 */
export const TokenScope = Type.Union([
  Type.Literal('read'),
  Type.Literal('write'),
  Type.Literal('admin'),
  Type.Literal('telemetry'),
]);
export type TokenScope = Static<typeof TokenScope>;

const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' });
const Password = Type.String({ minLength: 12, maxLength: 1024 });
const Name = Type.String({ minLength: 1, maxLength: 100 });

export const UserView = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: Role,
  disabled: Type.Boolean(),
  createdMs: Type.Number(),
  /** Whether a password is set (an invited user signs in through the provider first). */
  hasPassword: Type.Optional(Type.Boolean()),
  /** Set by an admin: password sign-in is refused, only the OpenID provider lets them in. */
  providerOnly: Type.Optional(Type.Boolean()),
});
export type UserView = Static<typeof UserView>;

export const LoginRequest = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type LoginRequest = Static<typeof LoginRequest>;

/** What login, refresh and me answer: the user, and when the access cookie runs out. */
export const SessionView = Type.Object({
  user: UserView,
  accessExpiresMs: Type.Optional(Type.Number()),
});
export type SessionView = Static<typeof SessionView>;

export const SignupRequest = Type.Object({ email: Email, name: Name, password: Password });
export type SignupRequest = Static<typeof SignupRequest>;

export const SetupRequest = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 200 }),
  email: Email,
  name: Name,
  password: Password,
});
export type SetupRequest = Static<typeof SetupRequest>;

export const SetupStatus = Type.Object({ valid: Type.Boolean() });
export type SetupStatus = Static<typeof SetupStatus>;

/**
 * How a user reads values (`GET`/`PUT /api/v1/auth/me/preferences`): the dashboard converts what it
 * shows, and CSV exports are written in them unless `units=stored` is asked for (units.ts holds the
 * conversions); stored data, the API, NDJSON, GPX and GeoJSON keep the canonical units (km, °C, kPa).
 */
export const UnitPreferences = Type.Object(
  {
    distance: Type.Union([Type.Literal('km'), Type.Literal('mi')]),
    temperature: Type.Union([Type.Literal('c'), Type.Literal('f')]),
    pressure: Type.Union([Type.Literal('kpa'), Type.Literal('bar'), Type.Literal('psi')]),
  },
  { additionalProperties: false },
);
export type UnitPreferences = Static<typeof UnitPreferences>;
export const DEFAULT_UNIT_PREFERENCES: UnitPreferences = {
  distance: 'km',
  temperature: 'c',
  pressure: 'kpa',
};

/** `GET /api/v1/auth/setup`: whether no user exists yet, so the login page can point to the setup link. */
export const FirstStartStatus = Type.Object({ needed: Type.Boolean() });
export type FirstStartStatus = Static<typeof FirstStartStatus>;

export const PasswordChangeRequest = Type.Object({
  currentPassword: Type.String({ minLength: 1, maxLength: 1024 }),
  newPassword: Password,
});
export type PasswordChangeRequest = Static<typeof PasswordChangeRequest>;

/** One active login as the user sees it in "where you are logged in". */
export const LoginView = Type.Object({
  id: Type.String(),
  device: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  createdMs: Type.Number(),
  lastUsedMs: Type.Number(),
  current: Type.Boolean(),
  /** Which way it began: a password, the OpenID provider, first-start setup or sign-up. */
  method: Type.Optional(
    Type.Union([
      Type.Literal('password'),
      Type.Literal('oidc'),
      Type.Literal('setup'),
      Type.Literal('signup'),
    ]),
  ),
});
export type LoginView = Static<typeof LoginView>;

/** Without a password the user is invited: their first sign-in with the OpenID provider (verified email) links. */
export const CreateUserRequest = Type.Object({
  email: Email,
  name: Name,
  password: Type.Optional(Password),
  role: Role,
});
export type CreateUserRequest = Static<typeof CreateUserRequest>;

export const UpdateUserRequest = Type.Object(
  {
    name: Type.Optional(Name),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean()),
    password: Type.Optional(Password),
    /** Require sign-in through the OpenID provider only (password logins refused, open ones ended). */
    providerOnly: Type.Optional(Type.Boolean()),
  },
  { minProperties: 1 },
);
export type UpdateUserRequest = Static<typeof UpdateUserRequest>;

export const CreateTokenRequest = Type.Object({
  name: Name,
  scopes: Type.Array(TokenScope, { minItems: 1, uniqueItems: true }),
  vehicleIds: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 })),
  expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
});
export type CreateTokenRequest = Static<typeof CreateTokenRequest>;

export const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  /** The first characters of the token, so people can tell tokens apart. */
  prefix: Type.String(),
  scopes: Type.Array(Type.String()),
  vehicleId: Type.Union([Type.String(), Type.Null()]),
  vehicleIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
  createdMs: Type.Number(),
  expiresMs: Type.Union([Type.Number(), Type.Null()]),
  lastUsedMs: Type.Union([Type.Number(), Type.Null()]),
  /** Set for the token a `tacho login` made: the host it was made for (Settings lists it as a CLI login). */
  cliHost: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type TokenView = Static<typeof TokenView>;

/** A token as created: the only time the secret is shown. */
export const CreatedToken = Type.Object({ token: Type.String(), info: TokenView });
export type CreatedToken = Static<typeof CreatedToken>;

export const CreateVehicleTokenRequest = Type.Object({ name: Type.Optional(Name) });
export type CreateVehicleTokenRequest = Static<typeof CreateVehicleTokenRequest>;

/** How the caller relates to a vehicle: what the dashboard uses to show or hide buttons. */
export const VehicleAccessLevel = Type.Union([
  Type.Literal('owner'),
  Type.Literal('admin'),
  Type.Literal('operator'),
  Type.Literal('viewer'),
]);
export type VehicleAccessLevel = Static<typeof VehicleAccessLevel>;

/**
 * How many of a vehicle's messages the server refused (each kept as a dead letter), since when, and the
 * latest one's reason: a device whose clock runs fast, or that sends garbage, shows up here.
 */
export const VehicleRefusals = Type.Object({
  count: Type.Integer({ description: 'Messages refused since firstMs' }),
  firstMs: Type.Number(),
  lastMs: Type.Number(),
  lastReason: Type.String({ description: 'Why the latest refused message was refused' }),
});
export type VehicleRefusals = Static<typeof VehicleRefusals>;

/** What a vehicle is: anything that moves and reports. Only the dashboard's wording depends on it. */
export const VehicleKind = Type.Union([
  Type.Literal('car'),
  Type.Literal('motorcycle'),
  Type.Literal('truck'),
  Type.Literal('phone'),
  Type.Literal('tracker'),
  Type.Literal('other'),
]);
export type VehicleKind = Static<typeof VehicleKind>;
export const vehicleKinds: readonly VehicleKind[] = [
  'car',
  'motorcycle',
  'truck',
  'phone',
  'tracker',
  'other',
];

export const VehicleView = Type.Object({
  id: Type.String(),
  /** Null for a vehicle without one (a phone, a tracker, a car built before 1981). */
  vin: Type.Union([Type.String(), Type.Null()]),
  kind: VehicleKind,
  name: Type.String(),
  make: Type.Union([Type.String(), Type.Null()]),
  model: Type.Union([Type.String(), Type.Null()]),
  year: Type.Union([Type.Integer(), Type.Null()]),
  ownerId: Type.String(),
  access: VehicleAccessLevel,
  createdMs: Type.Number(),
  updatedMs: Type.Number(),
  /** Only in `GET /api/v1/vehicles/:id`: null when none of its messages was ever refused. */
  refusals: Type.Optional(Type.Union([VehicleRefusals, Type.Null()])),
});
export type VehicleView = Static<typeof VehicleView>;

const OptionalText = (max: number) =>
  Type.Optional(Type.Union([Type.String({ maxLength: max }), Type.Null()]));
const Year = Type.Optional(Type.Union([Type.Integer({ minimum: 1886, maximum: 2100 }), Type.Null()]));

export const CreateVehicleRequest = Type.Object({
  /** Optional; when given, 17 characters without I, O and Q (spaces and case are forgiven), and unique. */
  vin: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Null()])),
  /** `car` when left out. */
  kind: Type.Optional(VehicleKind),
  name: Name,
  make: OptionalText(60),
  model: OptionalText(60),
  year: Year,
});
export type CreateVehicleRequest = Static<typeof CreateVehicleRequest>;

export const UpdateVehicleRequest = Type.Object(
  {
    name: Type.Optional(Name),
    kind: Type.Optional(VehicleKind),
    make: OptionalText(60),
    model: OptionalText(60),
    year: Year,
  },
  { minProperties: 1 },
);
export type UpdateVehicleRequest = Static<typeof UpdateVehicleRequest>;

export const ShareRole = Type.Union([Type.Literal('viewer'), Type.Literal('operator')]);
export type ShareRole = Static<typeof ShareRole>;

export const ShareVehicleRequest = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254 }),
  role: ShareRole,
});
export type ShareVehicleRequest = Static<typeof ShareVehicleRequest>;

/** `DELETE /api/v1/vehicles/:id/access`: end a user's access, naming them by email as when sharing. */
export const UnshareVehicleRequest = Type.Object({ email: Type.String({ minLength: 3, maxLength: 254 }) });
export type UnshareVehicleRequest = Static<typeof UnshareVehicleRequest>;

export const VehicleAccessView = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: ShareRole,
  createdMs: Type.Number(),
});
export type VehicleAccessView = Static<typeof VehicleAccessView>;
