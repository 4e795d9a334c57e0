/** Wire schemas and types shared by the server, the client, the CLI and the dashboard. Pure: no I/O. */
export const API_PREFIX = '/api/v1';
export * from './alerts.js';
export * from './aliases.js';
export * from './auth.js';
export * from './catalog.js';
export * from './identity.js';
export * from './live.js';
export * from './native.js';
export * from './obd.js';
export * from './readings.js';
export * from './scenario.js';
export * from './sessions.js';
export * from './telemetry.js';
export * from './tesla-connector.js';
export * from './transfer.js';
export * from './vin.js';
export * from './vinfast-connector.js';
export * from './web-config.js';
