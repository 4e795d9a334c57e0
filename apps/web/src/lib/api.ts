import {
  API_PREFIX,
  type CreatedToken,
  type CreateTokenRequest,
  type CreateUserRequest,
  type CreateVehicleRequest,
  type CreateVehicleTokenRequest,
  type LoginRequest,
  type LoginView,
  type PasswordChangeRequest,
  type RawScan,
  type SamplesQuery,
  type SamplesResponse,
  type SessionView,
  type SetupRequest,
  type SetupStatus,
  type ShareVehicleRequest,
  type TokenView,
  type Track,
  type TrackQuery,
  type UpdateMessage,
  type UpdateUserRequest,
  type UserView,
  type VehicleAccessView,
  type VehicleState,
  type VehicleView,
} from '@tacho/protocol';
import type { WebConfig } from './config.js';
import { onSessionLost, openLive, request } from './transport.js';

/** A refused request, with the server's error code and, for 429, how long to wait. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

export interface DeadLetter {
  id: string;
  source: string;
  topic: string | null;
  reason: string;
  payload: string;
  receivedMs: number;
}

/** `POST /api/v1/aliases` with a vehicle: its make, model and year apply, and it counts as confirming. */
export interface AliasProposal {
  vehicleId: string;
  deviceKey: string;
  canonicalKey: string;
  /** Device value × scale = canonical value. */
  scale: number;
}

export interface VehicleWatcher {
  status(status: LiveStatus): void;
  snapshot(state: VehicleState): void;
  update(update: UpdateMessage): void;
  error(vehicleId: string, message: string): void;
}

/** Everything the dashboard asks the server, in one place, so pages never build URLs themselves. */
export interface DashboardApi {
  webConfig(): Promise<WebConfig>;
  me(): Promise<UserView>;
  login(request: LoginRequest): Promise<UserView>;
  logout(): Promise<void>;
  setupStatus(token: string): Promise<SetupStatus>;
  /** Creates the first admin and logs them in. */
  setup(request: SetupRequest): Promise<UserView>;
  /** Ends every login; this browser gets a fresh one. */
  changePassword(request: PasswordChangeRequest): Promise<void>;
  listLogins(): Promise<LoginView[]>;
  endLogin(id: string): Promise<void>;
  endAllLogins(): Promise<void>;
  listTokens(): Promise<TokenView[]>;
  createToken(request: CreateTokenRequest): Promise<CreatedToken>;
  revokeToken(id: string): Promise<void>;
  listVehicles(): Promise<VehicleView[]>;
  getVehicle(id: string): Promise<VehicleView>;
  createVehicle(request: CreateVehicleRequest): Promise<VehicleView>;
  createVehicleToken(id: string, request: CreateVehicleTokenRequest): Promise<CreatedToken>;
  listAccess(id: string): Promise<VehicleAccessView[]>;
  share(id: string, request: ShareVehicleRequest): Promise<void>;
  unshare(id: string, userId: string): Promise<void>;
  state(id: string): Promise<VehicleState>;
  samples(id: string, query: SamplesQuery): Promise<SamplesResponse>;
  raw(id: string): Promise<RawScan>;
  track(id: string, query: TrackQuery): Promise<Track>;
  proposeAlias(proposal: AliasProposal): Promise<void>;
  listUsers(): Promise<UserView[]>;
  createUser(request: CreateUserRequest): Promise<UserView>;
  updateUser(id: string, request: UpdateUserRequest): Promise<UserView>;
  listDeadLetters(cursor?: string): Promise<{ items: DeadLetter[]; nextCursor: string | null }>;
  /** Subscribes to live state; returns the function that stops watching. */
  watchVehicles(vehicleIds: readonly string[], watcher: VehicleWatcher): () => void;
}

const prefix = API_PREFIX;
const v = (id: string) => `${prefix}/vehicles/${encodeURIComponent(id)}`;

export { onSessionLost };

export const api: DashboardApi = {
  async webConfig() {
    return { mapTiles: '', mqttUrl: null, ...(await request<Partial<WebConfig>>('GET', '/config.json')) };
  },
  me: () => request<UserView>('GET', `${prefix}/auth/me`),
  login: async (body) => (await request<SessionView>('POST', `${prefix}/auth/login`, { body })).user,
  logout: () => request('POST', `${prefix}/auth/logout`),
  setupStatus: (token) => request('GET', `${prefix}/auth/setup/${encodeURIComponent(token)}`),
  setup: async (body) => (await request<SessionView>('POST', `${prefix}/auth/setup`, { body })).user,
  changePassword: async (body) => {
    await request<SessionView>('POST', `${prefix}/auth/password`, { body });
  },
  listLogins: () => request('GET', `${prefix}/auth/logins`),
  endLogin: (id) => request('DELETE', `${prefix}/auth/logins/${encodeURIComponent(id)}`),
  endAllLogins: () => request('DELETE', `${prefix}/auth/logins`),
  listTokens: () => request('GET', `${prefix}/tokens`),
  createToken: (body) => request('POST', `${prefix}/tokens`, { body }),
  revokeToken: (id) => request('DELETE', `${prefix}/tokens/${encodeURIComponent(id)}`),
  listVehicles: () => request('GET', `${prefix}/vehicles`),
  getVehicle: (id) => request('GET', v(id)),
  createVehicle: (body) => request('POST', `${prefix}/vehicles`, { body }),
  createVehicleToken: (id, body) => request('POST', `${v(id)}/tokens`, { body }),
  listAccess: (id) => request('GET', `${v(id)}/access`),
  share: (id, body) => request('POST', `${v(id)}/access`, { body }),
  unshare: (id, userId) => request('DELETE', `${v(id)}/access/${encodeURIComponent(userId)}`),
  state: (id) => request('GET', `${v(id)}/state`),
  samples: (id, query) => request('GET', `${v(id)}/samples`, { query: { ...query } }),
  raw: (id) => request('GET', `${v(id)}/raw`),
  track: (id, query) => request('GET', `${v(id)}/track`, { query: { ...query } }),
  proposeAlias: (body) => request('POST', `${prefix}/aliases`, { body }),
  listUsers: () => request('GET', `${prefix}/users`),
  createUser: (body) => request('POST', `${prefix}/users`, { body }),
  updateUser: (id, body) => request('PATCH', `${prefix}/users/${encodeURIComponent(id)}`, { body }),
  async listDeadLetters(cursor) {
    const page = await request<{
      items: Array<Omit<DeadLetter, 'id'> & { id: number }>;
      nextBefore: number | null;
    }>('GET', `${prefix}/admin/dead-letters`, { query: { limit: 50, before: cursor } });
    return {
      items: page.items.map((item) => ({ ...item, id: String(item.id) })),
      nextCursor: page.nextBefore === null ? null : String(page.nextBefore),
    };
  },
  watchVehicles(vehicleIds, watcher) {
    // REST answers first and keeps the page useful while the socket connects (or cannot).
    const fromSocket = new Set<string>();
    for (const id of vehicleIds) {
      api.state(id).then(
        (state) => {
          if (!fromSocket.has(id)) watcher.snapshot(state);
        },
        (error: unknown) => watcher.error(id, error instanceof Error ? error.message : String(error)),
      );
    }
    return openLive(vehicleIds, {
      status: watcher.status,
      message(message) {
        if (message.type === 'snapshot') {
          fromSocket.add(message.vehicleId);
          watcher.snapshot(message.state);
        } else if (message.type === 'update') watcher.update(message);
        else if (message.type === 'error' && message.vehicleId)
          watcher.error(message.vehicleId, message.message);
      },
    });
  },
};
