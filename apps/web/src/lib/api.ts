import { type AlertListQuery, ApiError, type SessionListQuery, TachoClient } from '@tacho/client';
import type {
  Alert,
  AlertDelivery,
  AlertPage,
  AlertRule,
  AlertTestResult,
  CreateAlertRule,
  CreatedToken,
  CreateTokenRequest,
  CreateUserRequest,
  CreateVehicleRequest,
  CreateVehicleTokenRequest,
  DownsampledSamples,
  ExportFormat,
  ImportFormat,
  ImportResult,
  LoginRequest,
  LoginView,
  PasswordChangeRequest,
  RawScan,
  SamplesQuery,
  SamplesResponse,
  Session,
  SessionPage,
  SessionTrack,
  SetupRequest,
  SetupStatus,
  ShareVehicleRequest,
  TokenView,
  Track,
  TrackQuery,
  UpdateAlertRule,
  UpdateUserRequest,
  UserView,
  VehicleAccessView,
  VehicleState,
  VehicleView,
} from '@tacho/protocol';
import { defaultWebConfig, type WebConfig } from './config.js';

export { type AlertListQuery, ApiError, type SessionListQuery };

/** `closed`: the socket gave up (the login ended); the page still shows the last known values. */
export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

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
  /** The vehicle's whole current state, after every snapshot and update. */
  state(state: VehicleState): void;
  error(vehicleId: string, message: string): void;
}

export interface AlertListener {
  alert(alert: Alert): void;
  resumed(): void;
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
  /** Drives, charges and recordings, newest first: of one vehicle, or (null) of every vehicle one sees. */
  listSessions(vehicleId: string | null, query: SessionListQuery): Promise<SessionPage>;
  getSession(id: string): Promise<Session>;
  sessionTrack(id: string, maxPoints: number): Promise<SessionTrack>;
  sessionSamples(id: string, metrics: readonly string[], maxPoints: number): Promise<DownsampledSamples>;
  startRecording(vehicleId: string): Promise<Session>;
  stopRecording(id: string): Promise<Session>;
  /** Deletes the session and the samples recorded inside it. */
  deleteSession(id: string): Promise<void>;
  /** Where a browser downloads a vehicle's export over a range (its login cookies go along). */
  vehicleExportUrl(vehicleId: string, format: ExportFormat, from: number, to: number): string;
  sessionExportUrl(sessionId: string, format: ExportFormat): string;
  /** Uploads a file into a vehicle; `onProgress` hears the bytes sent. */
  importFile(
    vehicleId: string,
    format: ImportFormat,
    file: File,
    options: { name?: string; onProgress?: (sent: number, total: number) => void },
  ): Promise<ImportResult>;
  listUsers(): Promise<UserView[]>;
  createUser(request: CreateUserRequest): Promise<UserView>;
  updateUser(id: string, request: UpdateUserRequest): Promise<UserView>;
  listDeadLetters(cursor?: string): Promise<{ items: DeadLetter[]; nextCursor: string | null }>;
  listAlertRules(): Promise<AlertRule[]>;
  createAlertRule(rule: CreateAlertRule): Promise<AlertRule>;
  updateAlertRule(id: string, change: UpdateAlertRule): Promise<AlertRule>;
  deleteAlertRule(id: string): Promise<void>;
  /** Sends one notification through each of the rule's channels now. */
  testAlertRule(id: string): Promise<AlertTestResult>;
  /** Open ones first, then newest first. */
  listAlerts(query: AlertListQuery): Promise<AlertPage>;
  acknowledgeAlert(id: string): Promise<Alert>;
  alertDeliveries(id: string): Promise<AlertDelivery[]>;
  /**
   * Hears the alerts of these vehicles over the live socket (fired, acknowledged, resolved), and each
   * time the socket is live again after a gap (`resumed`: alerts may have been missed meanwhile).
   */
  watchAlerts(vehicleIds: readonly string[], listener: AlertListener): () => void;
  /** Subscribes to live state; returns the function that stops watching. */
  watchVehicles(vehicleIds: readonly string[], watcher: VehicleWatcher): () => void;
}

const sessionLost = new Set<() => void>();

/** Called when a 401 survives the refresh: the login is gone and the user must log in again. */
export function onSessionLost(listener: () => void): () => void {
  sessionLost.add(listener);
  return () => sessionLost.delete(listener);
}

/** The one client of the dashboard: cookie mode, same origin, refresh on 401 with one refresh in flight. */
export const client = new TachoClient({
  mode: 'cookie',
  onSessionLost: () => {
    for (const listener of sessionLost) listener();
  },
});

const liveStatus = {
  connecting: 'connecting',
  open: 'live',
  reconnecting: 'reconnecting',
  closed: 'closed',
} as const;

export const api: DashboardApi = {
  async webConfig() {
    return { ...defaultWebConfig, ...(await client.http.request<Partial<WebConfig>>('GET', '/config.json')) };
  },
  me: () => client.auth.me(),
  login: async ({ email, password }) => (await client.auth.login(email, password)).user,
  logout: async () => {
    try {
      await client.auth.logout();
    } finally {
      // The socket belongs to the login that just ended; the next user's pages open their own.
      client.close();
    }
  },
  setupStatus: (token) => client.auth.setupStatus(token),
  setup: async (request) => (await client.auth.setup(request)).user,
  changePassword: async (request) => {
    await client.auth.changePassword(request);
  },
  listLogins: () => client.auth.logins(),
  endLogin: (id) => client.auth.endLogin(id),
  endAllLogins: () => client.auth.endAllLogins(),
  listTokens: () => client.tokens.list(),
  createToken: (request) => client.tokens.create(request),
  revokeToken: (id) => client.tokens.revoke(id),
  listVehicles: () => client.vehicles.list(),
  getVehicle: (id) => client.vehicles.get(id),
  createVehicle: (request) => client.vehicles.create(request),
  createVehicleToken: (id, request) => client.vehicles.createToken(id, request.name),
  listAccess: (id) => client.vehicles.access(id),
  share: async (id, request) => {
    await client.vehicles.share(id, request);
  },
  unshare: (id, userId) => client.vehicles.unshare(id, userId),
  state: (id) => client.readings.state(id),
  samples: (id, { metrics, ...query }) =>
    client.readings.samples(id, { ...query, ...(metrics ? { metrics: metrics.split(',') } : {}) }),
  raw: (id) => client.readings.raw(id),
  track: (id, query) => client.readings.track(id, query),
  proposeAlias: async (proposal) => {
    await client.aliases.propose(proposal);
  },
  listSessions: (vehicleId, query) => client.sessions.list(vehicleId, query),
  getSession: (id) => client.sessions.get(id),
  sessionTrack: (id, maxPoints) => client.sessions.track(id, maxPoints),
  sessionSamples: (id, metrics, maxPoints) => client.sessions.samples(id, { metrics, maxPoints }),
  startRecording: (vehicleId) => client.sessions.startRecording(vehicleId),
  stopRecording: (id) => client.sessions.stopRecording(id),
  deleteSession: (id) => client.sessions.delete(id),
  vehicleExportUrl: (vehicleId, format, from, to) =>
    client.transfer.vehicleExportUrl(vehicleId, { format, from, to }),
  sessionExportUrl: (sessionId, format) => client.transfer.sessionExportUrl(sessionId, format),
  importFile: (vehicleId, format, file, options) =>
    client.transfer.importFile(vehicleId, format, file, options),
  listUsers: () => client.users.list(),
  createUser: (request) => client.users.create(request),
  updateUser: (id, request) => client.users.update(id, request),
  async listDeadLetters(cursor) {
    const page = await client.telemetry.deadLetters({
      limit: 50,
      ...(cursor ? { before: Number(cursor) } : {}),
    });
    return {
      items: page.items.map((item) => ({ ...item, id: String(item.id) })),
      nextCursor: page.nextBefore === null ? null : String(page.nextBefore),
    };
  },
  listAlertRules: () => client.alerts.rules(),
  createAlertRule: (rule) => client.alerts.createRule(rule),
  updateAlertRule: (id, change) => client.alerts.updateRule(id, change),
  deleteAlertRule: (id) => client.alerts.deleteRule(id),
  testAlertRule: (id) => client.alerts.testRule(id),
  listAlerts: (query) => client.alerts.list(query),
  acknowledgeAlert: (id) => client.alerts.acknowledge(id),
  alertDeliveries: async (id) => (await client.alerts.deliveries(id)).items,
  watchAlerts(vehicleIds, listener) {
    const live = client.live;
    let wasLive = live.status === 'open';
    const stops = [
      live.onStatus((status) => {
        if (status === 'open' && !wasLive) listener.resumed();
        wasLive = status === 'open';
      }),
      ...vehicleIds.map((id) => live.subscribe(id, { alert: (alert) => listener.alert(alert) })),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  },
  watchVehicles(vehicleIds, watcher) {
    const live = client.live;
    watcher.status(liveStatus[live.status]);
    const stops = [live.onStatus((status) => watcher.status(liveStatus[status]))];
    const fromSocket = new Set<string>();
    for (const id of vehicleIds) {
      // REST answers first and keeps the page useful while the socket connects (or cannot).
      client.readings.state(id).then(
        (state) => {
          if (!fromSocket.has(id)) watcher.state(state);
        },
        (error: unknown) => watcher.error(id, error instanceof Error ? error.message : String(error)),
      );
      stops.push(
        live.subscribe(id, {
          state(state) {
            fromSocket.add(id);
            watcher.state(state);
          },
          error: (_code, message) => watcher.error(id, message),
        }),
      );
    }
    return () => {
      for (const stop of stops) stop();
    };
  },
};
