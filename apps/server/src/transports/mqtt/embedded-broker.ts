import { createServer, type Server } from 'node:net';
import { Aedes, type AedesOptions, type AuthenticateError } from 'aedes';
import { StartupError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  /**
   * The TCP port actually bound (useful when configured as 0 in tests); null when TCP is off, the port
   * could not be bound, or `listen` has not run yet.
   */
  readonly port: number | null;
  /** Why the TCP listener could not start (port taken): the broker then serves MQTT over WebSocket only. */
  readonly tcpProblem: string | null;
  /**
   * Opens the TCP listener. Call it once devices can be served (the device gateway attached, every topic
   * family added): a device that connects earlier would be refused, and mqtt.js clients with default
   * settings do not reconnect after a refused CONNECT.
   */
  listen(): Promise<void>;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  host: string;
  /** 0 picks a free port in tests; null turns the TCP listener off (MQTT over WebSocket only). */
  port: number | null;
  logger: Logger;
  /** Authentication and authorization hooks, and the `published` hook that gates the QoS 1 PUBACK. */
  handlers?: Partial<
    Pick<
      AedesOptions,
      'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'published' | 'preConnect'
    >
  >;
}

/**
 * Builds an aedes broker, to be hosted on a TCP port by `listen`. Sockets get TCP_NODELAY: with Nagle's
 * algorithm a lone PUBACK waits for the peer's delayed ACK, adding ~40 ms to every QoS 1 round trip.
 */
export async function createEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({
    // A slow subscriber must not stall delivery to everyone else.
    drainTimeout: 10_000,
    heartbeatInterval: 60_000,
    connectTimeout: 10_000,
    // Until the device gateway is attached (features/auth and telemetry are built after the broker),
    // nobody may connect: aedes would otherwise let everyone in. The listener opens only after that, so
    // this refusal is a safety net, not something a device sees.
    authenticate: (_client, _username, _password, done) =>
      done(Object.assign(new Error('server starting'), { returnCode: 3 }) as AuthenticateError, false),
    ...options.handlers,
  });
  aedes.on('clientError', (client, err) => {
    options.logger.debug({ clientId: client?.id, err: err.message }, 'mqtt client error');
  });
  aedes.on('connectionError', (client, err) => {
    options.logger.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error');
  });

  let server: Server | null = null;
  let port: number | null = null;
  let tcpProblem: string | null = null;
  const listen = async (): Promise<void> => {
    if (options.port === null || server !== null) return;
    const tcp = createServer({ noDelay: true }, aedes.handle);
    server = tcp;
    try {
      port = await new Promise<number>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(options.port ?? 0, options.host, () => {
          tcp.off('error', reject);
          const address = tcp.address();
          resolve(typeof address === 'object' && address ? address.port : (options.port ?? 0));
        });
      });
    } catch (error) {
      server = null;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        // The HTTP side (dashboard, API, MQTT over WebSocket at /mqtt) is still useful, so the server
        // keeps running and says plainly what to change.
        tcpProblem =
          code === 'EADDRINUSE'
            ? `TACHO_MQTT_PORT ${options.port} is already in use on ${options.host} (another MQTT broker?): the embedded broker serves MQTT over WebSocket at /mqtt only; set TACHO_MQTT_PORT to a free port, or TACHO_MQTT_URL to use that broker`
            : `TACHO_MQTT_PORT ${options.port} needs privileges on ${options.host}: the embedded broker serves MQTT over WebSocket at /mqtt only; choose a port above 1023`;
        options.logger.warn({ port: options.port, host: options.host }, tcpProblem);
      } else {
        // The caller closes the broker (it registered `close` when it created it).
        throw new StartupError(`cannot start the embedded MQTT broker: ${(error as Error).message}`);
      }
    }
    if (port !== null) options.logger.info({ port, host: options.host }, 'embedded MQTT broker listening');
  };

  return {
    aedes,
    get port() {
      return port;
    },
    get tcpProblem() {
      return tcpProblem;
    },
    listen,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      const tcp = server;
      if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
