import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../../config.js';
import type { Logger } from '../../lib/logger.js';
import { installErrorHandling, replyToFrameworkError } from './errors.js';
import { installRequestMetrics } from './metrics.js';
import { installReplyCheck } from './reply-check.js';

export type HttpServer = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

const requestIdPattern = /^[\w.-]{1,64}$/;

/** Builds the Fastify instance with the cross-cutting parts; features add their routes to it. */
export async function createHttpServer(
  config: Config,
  logger: Logger,
  metrics: Registry,
  /** Check every JSON reply against its route's response schema (tests; see reply-check.ts). */
  options: { checkReplies?: boolean } = {},
): Promise<HttpServer> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: Math.max(1024 * 1024, config.maxPayloadBytes),
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    // Honour a caller's request id when it is harmless, so logs can be followed across a proxy.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    // Errors before routing (an undecodable URL) get the one error shape too.
    frameworkErrors: replyToFrameworkError,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  installErrorHandling(app);
  installRequestMetrics(app, metrics);
  if (options.checkReplies) installReplyCheck(app);

  await app.register(cookie);
  // One WebSocket server for every socket route (the live stream, MQTT over WebSocket). Frames may be as
  // large as an MQTT message plus its header; routes with smaller messages check their own limit.
  await app.register(websocket, { options: { maxPayload: config.maxPayloadBytes + 1024 } });
  await app.register(helmet, {
    // The dashboard loads map tiles from the configured tile server; everything else is same-origin.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:', tileOrigin(config.mapTiles)],
        styleSrc: ["'self'", "'unsafe-inline'"],
        scriptSrc: ["'self'"],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // Loopback HTTP is the default deployment; HSTS only makes sense behind TLS.
    hsts: config.publicUrl.startsWith('https://'),
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Tacho API', version: '1', description: 'Self-hosted vehicle telemetry' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API, vehicle or CLI token (tacho_…)' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'tacho_access' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  return app;
}

function tileOrigin(template: string): string {
  try {
    const url = new URL(template.replace(/\{[a-z]\}/g, 'x'));
    return `${url.protocol}//${url.host.replace(/^x\./, '*.')}`;
  } catch {
    return "'self'";
  }
}
