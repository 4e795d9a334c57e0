/** Typed HTTP and WebSocket client for the Tacho API, for the dashboard, the CLI and the tests. */
export { API_PREFIX } from '@tacho/protocol';
export { type AlertListQuery, AlertsApi } from './alerts.js';
export { AliasesApi } from './aliases.js';
export { AuthApi } from './auth.js';
export { TachoClient, type TachoClientOptions } from './client.js';
export { ApiError } from './errors.js';
export { type HttpOptions, HttpTransport, type Query } from './http.js';
export {
  LiveClient,
  type LiveOptions,
  type LiveStatus,
  type SocketFactory,
  type SocketLike,
  type VehicleListener,
} from './live.js';
export { type RangeQuery, ReadingsApi } from './readings.js';
export { type SessionListQuery, SessionsApi } from './sessions.js';
export { TelemetryApi } from './telemetry.js';
export { TeslaApi } from './tesla.js';
export { TokensApi } from './tokens.js';
export {
  type ExportDownload,
  type ExportRange,
  formatOfFileName,
  IMPORT_CONTENT_TYPE,
  TransferApi,
} from './transfer.js';
export { UsersApi } from './users.js';
export { VehiclesApi } from './vehicles.js';
export { VinFastApi } from './vinfast.js';
