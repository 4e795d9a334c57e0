import { AlertsApi } from './alerts.js';
import { AliasesApi } from './aliases.js';
import { AuthApi } from './auth.js';
import { type HttpOptions, HttpTransport } from './http.js';
import { LiveClient, type LiveOptions } from './live.js';
import { ReadingsApi } from './readings.js';
import { SessionsApi } from './sessions.js';
import { TelemetryApi } from './telemetry.js';
import { TeslaApi } from './tesla.js';
import { TokensApi } from './tokens.js';
import { TransferApi } from './transfer.js';
import { UsersApi } from './users.js';
import { VehiclesApi } from './vehicles.js';
import { VinFastApi } from './vinfast.js';

export interface TachoClientOptions extends HttpOptions {
  /** Live socket options (Node 20 needs `socket`, built on the `ws` package). */
  live?: Omit<LiveOptions, 'http'>;
}

/**
 * The typed client of the Tacho API, one property per area. Browser: `new TachoClient()` (cookie mode,
 * same origin). CLI, scripts, tests: `new TachoClient({ baseUrl, token })` (bearer mode).
 */
export class TachoClient {
  readonly http: HttpTransport;
  readonly auth: AuthApi;
  readonly users: UsersApi;
  readonly tokens: TokensApi;
  readonly vehicles: VehiclesApi;
  readonly readings: ReadingsApi;
  readonly sessions: SessionsApi;
  readonly telemetry: TelemetryApi;
  readonly aliases: AliasesApi;
  /** Alert rules, alerts, their deliveries. */
  readonly alerts: AlertsApi;
  /** Export (CSV, NDJSON, GPX, GeoJSON) and import of samples and sessions. */
  readonly transfer: TransferApi;
  /** The Tesla connector: sign-in at Tesla, connected accounts and their vehicles. */
  readonly tesla: TeslaApi;
  /** The VinFast connector: accounts and their vehicles. */
  readonly vinfast: VinFastApi;
  private liveClient: LiveClient | null = null;

  constructor(private readonly options: TachoClientOptions = {}) {
    this.http = new HttpTransport(options);
    this.auth = new AuthApi(this.http);
    this.users = new UsersApi(this.http);
    this.tokens = new TokensApi(this.http);
    this.vehicles = new VehiclesApi(this.http);
    this.readings = new ReadingsApi(this.http);
    this.sessions = new SessionsApi(this.http);
    this.telemetry = new TelemetryApi(this.http);
    this.aliases = new AliasesApi(this.http);
    this.alerts = new AlertsApi(this.http);
    this.transfer = new TransferApi(this.http);
    this.tesla = new TeslaApi(this.http);
    this.vinfast = new VinFastApi(this.http);
  }

  /** The live socket, created on first use and shared. */
  get live(): LiveClient {
    this.liveClient ??= new LiveClient({ ...this.options.live, http: this.http });
    return this.liveClient;
  }

  /** Closes the live socket if open. */
  close(): void {
    this.liveClient?.close();
  }
}
