import { type Static, Type } from 'typebox';
import { AlertLiveMessage } from './alerts.js';
import { Connectivity, MetricReading, PositionReading, VehicleState } from './readings.js';

/**
 * The live socket at `/api/v1/live`. Authentication is the login cookie, or a bearer token sent in the
 * FIRST message (`auth`), never in the URL (URLs end up in logs and proxies).
 */
export const LIVE_PATH = '/api/v1/live';

/** Close codes the server uses besides the standard ones. */
export const LiveClose = {
  /** The client read too slowly for too long; resync from REST and reconnect. */
  tooSlow: 1008,
  /** No valid credentials (or none within the time allowed). */
  unauthorized: 4401,
  /**
   * The login ended (logout, revoked, password change, user disabled), or the API token that opened the
   * socket was revoked: whatever authenticated the socket no longer counts.
   */
  loginEnded: 4401,
  /** Access to a subscribed vehicle was revoked (unshared, deleted, a role lowered): resubscribe. */
  accessRevoked: 4403,
} as const;

// Client → server

export const AuthMessage = Type.Object({
  type: Type.Literal('auth'),
  token: Type.String({ maxLength: 4096 }),
});
export const SubscribeMessage = Type.Object({
  type: Type.Literal('subscribe'),
  vehicleIds: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 1000 }),
});
export const UnsubscribeMessage = Type.Object({
  type: Type.Literal('unsubscribe'),
  vehicleIds: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 1000 }),
});
export const PingMessage = Type.Object({ type: Type.Literal('ping'), id: Type.Optional(Type.Unknown()) });
export const LiveClientMessage = Type.Union([AuthMessage, SubscribeMessage, UnsubscribeMessage, PingMessage]);
export type LiveClientMessage = Static<typeof LiveClientMessage>;

// Server → client

/** Sent once authenticated; `userId` tells the client who it is. */
export const ReadyMessage = Type.Object({ type: Type.Literal('ready'), userId: Type.String() });
/** The current state of a vehicle, right after subscribing (and what a client resyncs to). */
export const SnapshotMessage = Type.Object({
  type: Type.Literal('snapshot'),
  vehicleId: Type.String(),
  state: VehicleState,
});
/** What changed: the newest value of each metric that changed, and the position if it moved. */
export const UpdateMessage = Type.Object({
  type: Type.Literal('update'),
  vehicleId: Type.String(),
  metrics: Type.Record(Type.String(), MetricReading),
  position: Type.Optional(PositionReading),
  connectivity: Type.Optional(Connectivity),
  /** Server time the update was published (for lag measurement). */
  publishedMs: Type.Integer(),
  /** Several updates were merged into this one because the client read slowly. */
  coalesced: Type.Optional(Type.Boolean()),
});
export const PongMessage = Type.Object({ type: Type.Literal('pong'), id: Type.Optional(Type.Unknown()) });
export const ErrorMessage = Type.Object({
  type: Type.Literal('error'),
  code: Type.String(),
  message: Type.String(),
  /** Set when the error concerns one vehicle of a subscribe (not visible: `not_found`). */
  vehicleId: Type.Optional(Type.String()),
});
export const LiveServerMessage = Type.Union([
  ReadyMessage,
  SnapshotMessage,
  UpdateMessage,
  PongMessage,
  ErrorMessage,
  AlertLiveMessage,
]);

export type ReadyMessage = Static<typeof ReadyMessage>;
export type SnapshotMessage = Static<typeof SnapshotMessage>;
export type UpdateMessage = Static<typeof UpdateMessage>;
export type PongMessage = Static<typeof PongMessage>;
export type ErrorMessage = Static<typeof ErrorMessage>;
export type LiveServerMessage = Static<typeof LiveServerMessage>;

/** Applies an update to a state, as a client keeps its view current between snapshots. */
export function applyUpdate(state: VehicleState, update: UpdateMessage): VehicleState {
  const metrics = { ...state.metrics };
  let last = state.lastSeenMs ?? 0;
  for (const [key, reading] of Object.entries(update.metrics)) {
    const current = metrics[key];
    if (!current || current.ts_ms <= reading.ts_ms) metrics[key] = reading;
    last = Math.max(last, reading.ts_ms);
  }
  let position = state.position;
  if (update.position && (!position || position.ts_ms <= update.position.ts_ms)) {
    position = update.position;
    last = Math.max(last, update.position.ts_ms);
  }
  return {
    ...state,
    metrics,
    position,
    lastSeenMs: last || state.lastSeenMs,
    connectivity: update.connectivity ?? state.connectivity,
  };
}
