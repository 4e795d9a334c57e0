import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isStorageUnavailable } from '../../db/index.js';
import { AppError, TooManyRequests, Unavailable } from '../../lib/errors.js';

/** The one shape every error reply has. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** What a 503 for an unavailable database suggests to wait before trying again. */
export const STORAGE_RETRY_AFTER_S = 5;

/** Fastify's own error codes that are the client's fault, with the code and status we answer. */
const fastifyCodes: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_TYPE: [400, 'invalid_content_type'],
};

/**
 * Maps any error to `{error:{code,message}}` with the right status. Domain errors keep their code; a
 * request that fails schema validation is 400 `invalid`; a database that is down or locked is 503
 * `storage_unavailable` with Retry-After; anything unexpected is logged with its stack and answered 500
 * `internal` with no detail, so no stack trace leaves the server.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(
    (error: FastifyError | AppError | Error, request: FastifyRequest, reply: FastifyReply) => {
      if (error instanceof AppError) {
        if (error instanceof TooManyRequests) reply.header('retry-after', String(error.retryAfterS));
        if (error instanceof Unavailable && error.retryAfterS !== undefined)
          reply.header('retry-after', String(error.retryAfterS));
        // A busy refusal sheds load (a login flood): a line with a stack for each would cost what it saves.
        if (error.status >= 500 && error.code !== 'busy') request.log.error({ err: error }, error.message);
        return reply.status(error.status).send(errorBody(error.code, error.message));
      }
      const fe = error as FastifyError;
      if (fe.validation) {
        return reply.status(400).send(errorBody('invalid', fe.message));
      }
      const mapped = fe.code ? fastifyCodes[fe.code] : undefined;
      if (mapped) {
        return reply.status(mapped[0]).send(errorBody(mapped[1], fe.message));
      }
      if (error instanceof SyntaxError && fe.statusCode === 400) {
        return reply
          .status(400)
          .send(errorBody('invalid_json', `request body is not valid JSON: ${error.message}`));
      }
      if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        const code = (fe.code ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase();
        return reply.status(fe.statusCode).send(errorBody(code, fe.message));
      }
      if (isStorageUnavailable(error)) {
        // PostgreSQL unreachable, SQLite locked by another process: not a bug, and a retry may succeed.
        request.log.warn({ err: error }, 'database unavailable');
        reply.header('retry-after', String(STORAGE_RETRY_AFTER_S));
        return reply
          .status(503)
          .send(errorBody('storage_unavailable', 'the database is unavailable; try again shortly'));
      }
      request.log.error({ err: error }, 'unhandled error');
      return reply.status(500).send(errorBody('internal', 'internal server error'));
    },
  );

  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
}

/**
 * Errors Fastify meets before it has a route (its `frameworkErrors` option): a URL that does not decode
 * (`GET /api/v1/%`) or a path parameter over the length limit. Without this, Fastify answers them itself
 * in a shape of its own ({error, code, message, statusCode}).
 */
export function replyToFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  reply.header('x-request-id', request.id);
  if (error.code === 'FST_ERR_BAD_URL') {
    reply.status(400).send(errorBody('bad_url', error.message));
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.status(414).send(errorBody('uri_too_long', error.message));
  } else {
    request.log.error({ err: error }, 'unhandled framework error');
    reply.status(500).send(errorBody('internal', 'internal server error'));
  }
}
