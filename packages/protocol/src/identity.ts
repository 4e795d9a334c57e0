import { type Static, Type } from 'typebox';
import { VehicleKind } from './auth.js';

/** Shapes of the identity routes: provider sign-in, linked identities, phones, `tacho login` (issue 20). */

/** What the login page needs to show "Sign in with <name>" (or that the provider is unavailable). */
export const AuthProviders = Type.Object({
  oidc: Type.Union([
    Type.Object({
      name: Type.String(),
      /** False while the provider's discovery document cannot be read (it is retried). */
      available: Type.Boolean(),
      startUrl: Type.String(),
    }),
    Type.Null(),
  ]),
});
export type AuthProviders = Static<typeof AuthProviders>;

/** A provider identity linked to a user: the provider's (issuer, subject), never the email alone. */
export const IdentityView = Type.Object({
  id: Type.String(),
  issuer: Type.String(),
  subject: Type.String(),
  /** The email the provider gave when last used (informative; it links nothing). */
  email: Type.Union([Type.String(), Type.Null()]),
  createdMs: Type.Number(),
  lastUsedMs: Type.Union([Type.Number(), Type.Null()]),
});
export type IdentityView = Static<typeof IdentityView>;

export const LinkIdentityRequest = Type.Object({
  issuer: Type.String({ minLength: 1, maxLength: 500 }),
  subject: Type.String({ minLength: 1, maxLength: 255 }),
});
export type LinkIdentityRequest = Static<typeof LinkIdentityRequest>;

/** `POST /api/v1/me/vehicles`: the phone app's own vehicle, made on its first post when it asks. */
export const CreateOwnVehicleRequest = Type.Object({
  kind: VehicleKind,
  name: Type.String({ minLength: 1, maxLength: 100 }),
});
export type CreateOwnVehicleRequest = Static<typeof CreateOwnVehicleRequest>;

/** The WebSocket path `tacho login` opens. */
export const CLI_LOGIN_PATH = '/api/v1/cli-login';

/** What the CLI says about itself; the confirmation page shows it. */
export const CliClient = Type.Object({
  host: Type.String({ maxLength: 100 }),
  os: Type.String({ maxLength: 100 }),
  version: Type.String({ maxLength: 40 }),
});
export type CliClient = Static<typeof CliClient>;

/** Server → CLI over the socket. */
export type CliLoginServerMessage =
  | {
      type: 'connection';
      connectionId: string;
      userCode: string;
      verificationUrl: string;
      expiresInS: number;
      /** Only the CLI learns it: with it, it collects the token after a dropped socket. */
      resumeSecret: string;
      /** RFC 8628 polling interval for the fallback. */
      intervalS: number;
    }
  | { type: 'resumed'; connectionId: string; expiresInS: number }
  | { type: 'auth:success'; token: string; user: { id: string; email: string; name: string; role: string } }
  | { type: 'auth:denied' }
  | { type: 'expired' }
  | { type: 'error'; code: string; message: string };

/** CLI → server over the socket: take up an attempt again after a drop, or give up. */
export type CliLoginClientMessage =
  | { type: 'resume'; connectionId: string; resumeSecret: string }
  | { type: 'cancel' };

/** What the confirmation page shows about an attempt. */
export const CliLoginView = Type.Object({
  userCode: Type.String(),
  client: CliClient,
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('confirmed'),
    Type.Literal('denied'),
    Type.Literal('collected'),
    Type.Literal('ended'),
  ]),
  expiresMs: Type.Number(),
  /** What the token it makes may do. */
  scopes: Type.Array(Type.String()),
  tokenDays: Type.Integer(),
});
export type CliLoginView = Static<typeof CliLoginView>;

export const CliLoginConfirm = Type.Object({ userCode: Type.String({ minLength: 1, maxLength: 20 }) });
export type CliLoginConfirm = Static<typeof CliLoginConfirm>;

/** RFC 8628-style fallback: the CLI polls with its resume secret after losing the socket. */
export const CliLoginPoll = Type.Object({
  connectionId: Type.String({ minLength: 1, maxLength: 100 }),
  resumeSecret: Type.String({ minLength: 1, maxLength: 100 }),
});
export type CliLoginPoll = Static<typeof CliLoginPoll>;

export const CliLoginToken = Type.Object({
  token: Type.String(),
  user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String() }),
});
export type CliLoginToken = Static<typeof CliLoginToken>;
