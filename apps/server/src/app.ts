import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import { openStorage, type Storage, widePermissionMessage, widePermissions } from './db/index.js';
import { ALERTS_PROCESSOR, type Alerts, createAlerts } from './features/alerts/index.js';
import { type Aliases, createAliases } from './features/aliases/index.js';
import { type Auth, createAuth } from './features/auth/index.js';
import { type CliLoginFeature, createCliLogin } from './features/cli-login/index.js';
import {
  createTeslaConnector,
  type TeslaConnector,
  type TeslaConnectorOptions,
} from './features/connectors/index.js';
import {
  createVinFastConnector,
  type VinFastConnector,
  type VinFastConnectorOptions,
} from './features/connectors/vinfast.js';
import { startDemo } from './features/demo/index.js';
import { createDiagnostics } from './features/diagnostics/index.js';
import { createFormats } from './features/formats/index.js';
import { createLive, type Live, type LiveDeps } from './features/live/index.js';
import { createProcessing, PROCESSORS, type ProcessingRunner } from './features/processing/index.js';
import { createReadings, type ReadingsService } from './features/readings/index.js';
import { createSessions, type Sessions } from './features/sessions/index.js';
import { createTelemetry, type Telemetry } from './features/telemetry/index.js';
import { createTransfer, type Transfer } from './features/transfer/index.js';
import { openVault, type Vault } from './features/vault/index.js';
import { createVehicles, type Vehicles } from './features/vehicles/index.js';
import { type Clock, systemClock } from './lib/clock.js';
import { StartupError } from './lib/errors.js';
import { EventBus } from './lib/events.js';
import { createLogger, type Logger } from './lib/logger.js';
import { type ReadinessCheck, registerHealthRoutes } from './transports/http/health.routes.js';
import { createMetricsRegistry } from './transports/http/metrics.js';
import { createHttpServer, type HttpServer } from './transports/http/server.js';
import { registerWebApp } from './transports/http/static.js';
import { attachDeviceIngest } from './transports/mqtt/device-ingest.js';
import { createEmbeddedBroker, type EmbeddedBroker } from './transports/mqtt/embedded-broker.js';
import { startExternalIngest } from './transports/mqtt/external-ingest.js';
import { registerMqttWebSocket } from './transports/mqtt/websocket.js';

export interface AppOptions {
  logger?: Logger;
  clock?: Clock;
  /** Use this storage instead of opening the configured one (tests hand in a per-test schema). */
  storage?: Storage;
  /** Overrides the embedded broker's TCP port: 0 = any free port (tests), null = no TCP listener. */
  mqttPort?: number | null;
  /** Live socket flow limits (tests use a short stuck time) and Redis channel prefix. */
  live?: Pick<LiveDeps, 'limits' | 'redisPrefix' | 'authTimeoutMs'>;
  /**
   * How often open live sockets and MQTT device connections are re-checked, the backstop for a
   * revocation event lost between instances (default 10 s; tests use less).
   */
  recheckMs?: number;
  /** Longest pause between OpenID discovery attempts while the provider is down (default 30 s). */
  oidcRetryMaxMs?: number;
  /** How often waiting `tacho login` sockets re-read their attempt, the backstop for a lost bus message. */
  cliLoginRecheckMs?: number;
  /**
   * Check every JSON reply against its route's response schema and answer 500 `reply_schema_mismatch`
   * when it does not match (on in tests: a reply that drifts from its wire type fails the test).
   */
  checkReplies?: boolean;
  /** The VinFast connector's runtime tick (tests: null, and they tick it). */
  vinfast?: VinFastConnectorOptions;
  /** The Tesla connector's poller tick (tests: null, and they tick it) and a test hook. */
  tesla?: TeslaConnectorOptions;
}

export interface App {
  readonly config: Config;
  readonly http: HttpServer;
  readonly storage: Storage;
  readonly logger: Logger;
  readonly broker: EmbeddedBroker | null;
  readonly events: EventBus;
  readonly clock: Clock;
  readonly metrics: Registry;
  /** Seals and opens secrets at rest (webhook and device secrets, the signing key). */
  readonly vault: Vault;
  /** Authentication: `authenticateBearer`, `authenticateAccessToken`, `authenticateVehicleDevice`, tokens. */
  readonly auth: Auth;
  /** Vehicles and the one access rule: `vehicles.can(principal, action, vehicle)`. */
  readonly vehicles: Vehicles;
  /** The read API: state, history (samples), deep scan (raw), track. */
  readonly readings: ReadingsService;
  /** Recorded sessions: the API (drives and charges are found on the processing path). */
  readonly sessions: Sessions;
  /** The after-commit processing path (decision 0017): sessions and alerts. */
  readonly processing: ProcessingRunner;
  /** Alert rules, alerts and the dispatcher of their notifications. */
  readonly alerts: Alerts;
  /** The live stream: bus (memory or Redis) and the WebSocket hub at /api/v1/live. */
  readonly live: Live;
  /** `tacho login` attempts: the socket at /api/v1/cli-login and the browser's confirmation. */
  readonly cliLogin: CliLoginFeature;
  /** Ingestion: `telemetry.pipeline.ingest(source, messages)` for every format; MQTT topic families. */
  readonly telemetry: Telemetry;
  /** Export and import of samples and sessions (CSV, NDJSON, GPX, GeoJSON). */
  readonly transfer: Transfer;
  /** The VinFast connector (issue 22): accounts, and the live streams of their linked vehicles. */
  readonly vinfast: VinFastConnector;
  /** The Tesla connector (issue 21): sign-in, accounts, and the poller of linked vehicles. */
  readonly tesla: TeslaConnector;
  /** Starts listening; resolves with the base URL actually bound. */
  listen(): Promise<string>;
  /** Stops accepting, finishes in-flight work, closes the broker and the database. Idempotent. */
  close(): Promise<void>;
}

/**
 * The one place where the parts are built and wired together, in dependency order. Every dependency is
 * passed in explicitly; nothing reaches for a global.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const events = new EventBus((event, error) => logger.error({ err: error, event }, 'event listener failed'));
  const closers: Array<() => Promise<void>> = [];
  const checks: ReadinessCheck[] = [];

  const storage = options.storage ?? (await openStorage(config.database));
  if (!options.storage) closers.push(() => storage.close());
  checks.push({ name: 'database', check: () => storage.ping() });
  // The database holds password and token hashes and every vehicle's data: say so at every start while
  // other accounts can read it.
  for (const wide of storage.file ? widePermissions(storage.file) : []) {
    logger.warn({ path: wide.path, mode: `0${wide.mode.toString(8)}` }, widePermissionMessage(wide));
  }
  // Secrets at rest are sealed (decision 0026); a missing or wrong key stops the start here.
  let vault: Vault;
  try {
    vault = await openVault(config, storage.db, logger);
  } catch (error) {
    await runClosers(closers);
    throw error;
  }

  let broker: EmbeddedBroker | null = null;
  try {
    if (config.mqtt.kind === 'embedded') {
      const port =
        options.mqttPort !== undefined ? options.mqttPort : config.mqtt.port === 0 ? null : config.mqtt.port;
      broker = await createEmbeddedBroker({
        host: config.mqtt.host,
        port,
        logger: logger.child({ part: 'mqtt' }),
      });
      const b = broker;
      closers.unshift(() => b.close());
      checks.push({ name: 'broker', check: async () => !b.aedes.closed });
    }
  } catch (error) {
    await runClosers(closers);
    throw error;
  }

  const metrics = createMetricsRegistry();
  const http = await createHttpServer(config, logger, metrics, {
    checkReplies: options.checkReplies ?? false,
  });
  registerHealthRoutes(http, () => checks);
  // Auth first: its hook must see every route registered after it (and the route-table test walks them).
  let auth: Auth;
  try {
    auth = await createAuth({
      http,
      config,
      db: storage.db,
      vault,
      clock,
      events,
      logger,
      ...(options.oidcRetryMaxMs !== undefined ? { oidcRetryMaxMs: options.oidcRetryMaxMs } : {}),
    });
  } catch (error) {
    await runClosers(closers);
    throw error;
  }
  const vehicles = createVehicles({ http, db: storage.db, clock, events, auth });
  const aliases: Aliases = createAliases({ http, db: storage.db, clock, vehicles });
  const telemetry = await createTelemetry({
    http,
    config,
    storage,
    clock,
    events,
    logger,
    metrics,
    vehicles,
    options: { processors: PROCESSORS },
  });
  const readings = createReadings({
    http,
    db: storage.db,
    clock,
    config,
    vehicles,
    derivedReady: () => telemetry.pipeline.flushDerived(),
  });
  // Drives, charges, recordings and alerts are processors on the after-commit path (decision 0017). A
  // local commit only hints that there is work; the marks committed with the samples say what it is.
  const processing = createProcessing({ storage, clock, logger, registry: metrics });
  const poke = () => processing.poke();
  const sessions = createSessions({
    http,
    db: storage.db,
    clock,
    vehicles,
    readings,
    audit: auth.audit,
    poke,
  });
  events.on('samples.stored', poke);
  processing.start();
  closers.unshift(() => processing.stop());
  let live: Live;
  try {
    live = await createLive({
      http,
      config,
      events,
      logger,
      metrics,
      auth,
      vehicles,
      readings,
      ...options.live,
      ...(options.recheckMs !== undefined ? { recheckMs: options.recheckMs } : {}),
    });
  } catch (error) {
    await runClosers(closers);
    throw error;
  }
  // `tacho login` through the browser: its socket and the confirmation may be on different instances,
  // so decisions travel on the live bus's control channel.
  let cliLogin: CliLoginFeature;
  try {
    cliLogin = await createCliLogin({
      http,
      db: storage.db,
      clock,
      logger,
      auth,
      bus: live.bus,
      publicUrl: config.publicUrl,
      ...(options.cliLoginRecheckMs !== undefined ? { recheckMs: options.cliLoginRecheckMs } : {}),
    });
  } catch (error) {
    await runClosers(closers);
    throw error;
  }
  closers.unshift(async () => cliLogin.close());
  // Alerts: rules over the API; the processor fires them, the dispatcher sends what it queued.
  const alerts = createAlerts({
    http,
    db: storage.db,
    vault,
    clock,
    logger,
    vehicles,
    audit: auth.audit,
    bus: live.bus,
    smtp: config.smtp,
    publicUrl: config.publicUrl,
    soleInstance: storage.engine === 'sqlite',
    poke,
  });
  processing.onLag((processor) => {
    if (processor === ALERTS_PROCESSOR) alerts.dispatcher.poke();
  });
  closers.unshift(() => alerts.close());
  checks.push(telemetry.readiness);
  // Source formats add their MQTT topic families before the broker or the external subscriber starts.
  const formats = createFormats({
    http,
    db: storage.db,
    vault,
    clock,
    logger,
    auth,
    vehicles,
    aliases,
    telemetry,
    teslaTopicBase: config.teslaTopicBase,
  });
  createDiagnostics({ http });
  // Export and import (issue 19): imports go through the ingestion pipeline, their tracks become recordings.
  const transfer = createTransfer({
    http,
    db: storage.db,
    clock,
    logger,
    vehicles,
    sessions: sessions.service,
    pipeline: telemetry.pipeline,
    maxImportBytes: config.maxImportBytes,
    unitPreferences: (userId) => auth.users.preferences(userId),
  });
  // Close order: whatever feeds the pipeline (broker, at closers[0]) first, then the pipeline drains its
  // queue, then the database.
  closers.splice(broker ? 1 : 0, 0, () => telemetry.close(config.shutdownTimeoutMs / 2));
  // The VinFast streams feed the pipeline (through the VinFast decoder), so they stop before it.
  const vinfast = createVinFastConnector(
    { http, config, db: storage.db, vault, clock, logger, vehicles, ingest: formats },
    options.vinfast,
  );
  closers.unshift(() => vinfast.close());
  // Maker clouds (issue 21): the Tesla poller feeds the pipeline, so it stops first.
  const tesla = createTeslaConnector(
    { http, config, db: storage.db, vault, clock, logger, auth, vehicles, pipeline: telemetry.pipeline },
    options.tesla,
  );
  closers.unshift(() => tesla.close());
  try {
    if (broker) {
      attachDeviceIngest(broker.aedes, {
        authenticateDevice: (vin, password) => auth.authenticateVehicleDevice(vin, password),
        topics: telemetry.deviceTopics,
        logger: logger.child({ part: 'mqtt' }),
        events,
        validDeviceTokens: (tokenIds) => auth.validDeviceTokens(tokenIds),
        audit: auth.audit,
        ...(options.recheckMs !== undefined ? { recheckMs: options.recheckMs } : {}),
      });
      await registerMqttWebSocket(http, broker.aedes);
      // Only now may devices connect: before, the broker could only refuse them (CONNACK 3), and mqtt.js
      // clients with default settings never retry a refused CONNECT. (/mqtt opens with the HTTP port.)
      await broker.listen();
    } else if (config.mqtt.kind === 'external') {
      const external = await startExternalIngest({
        ...config.mqtt,
        topics: telemetry.deviceTopics,
        vehicleIdByVin: (vin) => telemetry.service.vehicleIdByVin(vin),
        rejectUnknown: (topic, vin, payload) =>
          telemetry.pipeline.rejectPayload(
            { source: 'mqtt', topic, vehicleId: null },
            { code: 'unknown_vehicle', reason: `topic: no vehicle has the VIN ${vin.slice(0, 32)}` },
            payload,
          ),
        logger: logger.child({ part: 'mqtt' }),
      });
      closers.unshift(() => external.close());
      checks.push({ name: 'broker', check: async () => external.connected() });
    }
    if (config.demo) {
      const demo = await startDemo({ db: storage.db, clock, pipeline: telemetry.pipeline, logger });
      closers.unshift(() => demo.stop());
    }
  } catch (error) {
    await runClosers(closers);
    throw error;
  }
  await registerWebApp(http, config);

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // HTTP first: stop accepting and let in-flight requests finish; then the broker and the rest.
      await http.close();
      await runClosers(closers);
    })();
    return closing;
  };
  return {
    config,
    http,
    storage,
    logger,
    broker,
    events,
    clock,
    metrics,
    vault,
    auth,
    vehicles,
    readings,
    sessions,
    processing,
    alerts,
    live,
    cliLogin,
    telemetry,
    transfer,
    vinfast,
    tesla,
    async listen() {
      try {
        return await http.listen({ host: config.host, port: config.port });
      } catch (error) {
        await close();
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') {
          throw new StartupError(
            `TACHO_PORT ${config.port} is already in use on ${config.host}: stop the other program or set TACHO_PORT to a free port`,
          );
        }
        if (code === 'EACCES') {
          throw new StartupError(
            `TACHO_PORT ${config.port} needs privileges on ${config.host}: choose a port above 1023`,
          );
        }
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
          throw new StartupError(
            `TACHO_HOST ${config.host} is not an address of this machine: use 127.0.0.1 or 0.0.0.0`,
          );
        }
        throw error;
      }
    },
    close,
  };
}

async function runClosers(closers: Array<() => Promise<void>>): Promise<void> {
  for (const close of closers) {
    await close().catch(() => {});
  }
}
