import { LIVE_PATH, LiveClose } from '@tacho/protocol';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config.js';
import { Forbidden, StartupError } from '../../lib/errors.js';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import { ACCESS_COOKIE, type Auth } from '../auth/index.js';
import type { ReadingsService } from '../readings/index.js';
import type { Vehicles } from '../vehicles/index.js';
import type { LiveBus } from './bus.js';
import { defaultFlowLimits, type FlowLimits } from './connection.js';
import { LiveHub } from './hub.js';
import { MemoryBus } from './memory-bus.js';
import { RedisBus } from './redis-bus.js';
import { relayRevocations } from './revocation-relay.js';
import { UpdateBuilder } from './updates.js';

export type { LiveBus } from './bus.js';
export { LiveHub } from './hub.js';

export interface LiveDeps {
  http: HttpServer;
  config: Config;
  events: EventBus;
  logger: Logger;
  metrics: Registry;
  auth: Auth;
  vehicles: Vehicles;
  readings: ReadingsService;
  /** Overrides for tests (a short stuck time) and benchmarks. */
  limits?: Partial<FlowLimits>;
  /** Redis channel prefix (tests isolate parallel runs). */
  redisPrefix?: string;
  /** How long a socket may stay unauthenticated (default 10 s). */
  authTimeoutMs?: number;
  /** How often every open socket is re-authorised, in case a revocation's event was lost (default 10 s). */
  recheckMs?: number;
}

/** The backstop re-check of open sockets; revocation events close them within moments anyway. */
const DEFAULT_RECHECK_MS = 10_000;

export interface Live {
  readonly hub: LiveHub;
  readonly bus: LiveBus;
  /** Closes every socket and the bus; also runs when the HTTP server closes. */
  close(): Promise<void>;
}

/**
 * The live stream: publishes each committed batch as one serialized update per vehicle on the bus
 * (memory, or Redis with TACHO_REDIS_URL), and serves `/api/v1/live`.
 */
export async function createLive(deps: LiveDeps): Promise<Live> {
  const { http, config, events, logger } = deps;
  const log = logger.child({ part: 'live' });
  let bus: LiveBus;
  if (config.redisUrl) {
    const redis = new RedisBus({
      url: config.redisUrl,
      ...(deps.redisPrefix ? { prefix: deps.redisPrefix } : {}),
      onError: (error) => log.warn({ err: error }, 'redis live bus error'),
    });
    try {
      await redis.connect();
    } catch (error) {
      await redis.close();
      throw new StartupError(
        `cannot reach Redis at TACHO_REDIS_URL (${(error as Error).message}): check it runs, or unset TACHO_REDIS_URL for a single instance`,
      );
    }
    bus = redis;
  } else {
    bus = new MemoryBus((error) => log.error({ err: error }, 'live delivery failed'));
  }

  const authorizeRead = async (actor: Parameters<Vehicles['can']>[0], vehicleId: string) => {
    const vehicle = await deps.vehicles.getVisibleVehicle(actor, vehicleId);
    if (!(await deps.vehicles.can(actor, 'read', vehicle)))
      throw new Forbidden('you may not read this vehicle');
  };
  const hub = new LiveHub({
    bus,
    logger: log,
    now: () => Date.now(),
    limits: { ...defaultFlowLimits, ...deps.limits },
    authTimeoutMs: deps.authTimeoutMs ?? 10_000,
    authenticate: (token) =>
      token.startsWith('tacho_')
        ? deps.auth.authenticateBearer(token)
        : deps.auth.authenticateAccessToken(token),
    authorizeRead,
    recheck: (principal) => deps.auth.recheck(principal),
    readable: (principal, vehicleIds) => deps.vehicles.readableAmong(principal, vehicleIds),
    recheckMs: deps.recheckMs ?? DEFAULT_RECHECK_MS,
    snapshot: (vehicleId) => deps.readings.stateUnchecked(vehicleId),
  });
  // Revocations reach every instance's sockets (and MQTT connections) over the bus's control channel.
  let stopRelay: () => void;
  try {
    stopRelay = await relayRevocations(events, bus, (error) =>
      log.warn({ err: error }, 'revocation relay error'),
    );
  } catch (error) {
    hub.closeAll();
    await bus.close();
    throw new StartupError(`cannot listen for revocations on the live bus: ${(error as Error).message}`);
  }

  const builder = new UpdateBuilder(config.offlineAfterS);
  const offs = [
    events.on('samples.stored', (event) => {
      // Nobody follows this vehicle: remember what connectivity needs, build nothing (ingest's hot path).
      if (bus.reaches?.(event.vehicleId) === false) return builder.observe(event);
      const update = builder.build(event, Date.now());
      if (!update) return;
      // Serialized once here; every instance and every socket forwards these bytes unchanged.
      bus.publish(event.vehicleId, JSON.stringify(update)).catch((error) => {
        log.warn({ err: error, vehicleId: event.vehicleId }, 'live publish failed');
      });
    }),
    events.on('access.revoked', (event) => hub.revokeAccess(event.userId, event.vehicleId)),
    events.on('login.ended', (event) => hub.endLogin(event.userId, event.loginId, event.reason)),
    events.on('token.revoked', (event) => hub.revokeToken(event.tokenId)),
    stopRelay,
  ];

  new Gauge({
    name: 'tacho_live_sockets',
    help: 'Open live WebSocket connections on this instance',
    registers: [deps.metrics],
    collect() {
      this.set(hub.size);
    },
  });

  const ownOrigins = new Set([new URL(config.publicUrl).origin, ...config.allowedOrigins]);
  http.get(
    LIVE_PATH,
    {
      websocket: true,
      schema: { tags: ['live'], summary: 'Live updates over WebSocket (see packages/protocol live.ts)' },
      // A page on another site must not open a socket riding the user's cookie.
      preValidation: async (request) => {
        const origin = request.headers.origin;
        if (origin === undefined || ownOrigins.has(origin)) return;
        if (origin === `${request.protocol}://${request.host}`) return;
        throw new Forbidden(`origin ${origin} may not open the live socket`, 'origin_refused');
      },
    },
    (socket, request) => {
      const principal = request.principal?.kind === 'user' ? request.principal : null;
      const conn = hub.accept(socket, principal);
      // A browser whose access cookie ran out cannot send a token: tell it at once to refresh and reconnect.
      if (!principal && request.cookies[ACCESS_COOKIE] !== undefined) {
        conn.close(LiveClose.unauthorized, 'login expired: refresh it and reconnect');
      }
    },
  );

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      for (const off of offs) off();
      hub.closeAll();
      await bus.close();
    })();
    return closed;
  };
  http.addHook('onClose', close);
  return { hub, bus, close };
}
