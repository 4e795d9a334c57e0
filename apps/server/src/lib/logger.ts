import { type Logger, type LoggerOptions, pino } from 'pino';
import { loggableText, loggableUrl } from './log-redaction.js';

export type { Logger };

/** Paths pino blanks out wherever they appear, so no secret reaches a log line. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.secret',
  '*.refreshToken',
  '*.accessToken',
  'password',
  'token',
  'secret',
];

/** What Fastify hands the `req` serializer: its request (or, from elsewhere, a bare IncomingMessage). */
interface RequestLike {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  routeOptions?: { url?: string };
  socket?: { remoteAddress?: string; remotePort?: number };
}

/**
 * Requests are logged with their URL made safe (`loggableUrl`: query values and secret route parameters
 * blanked); this replaces Fastify's own `req` serializer, which logs the URL as it came.
 */
function serializeRequest(req: RequestLike) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? loggableUrl(req.url, req.routeOptions?.url) : undefined,
    host: req.host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}

/** pino's error serializer, then the message and stack made safe (an error may quote a URL). */
function serializeError(err: unknown) {
  if (typeof err === 'string') return loggableText(err);
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!out || typeof out !== 'object') return out;
  for (const field of ['message', 'stack'] as const) {
    if (typeof out[field] === 'string') out[field] = loggableText(out[field]);
  }
  return out;
}

export const serializers = { req: serializeRequest, err: serializeError };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'tacho' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
