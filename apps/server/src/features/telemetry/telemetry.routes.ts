import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DeadLetterPage, DeadLettersQuery, PublishResult } from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { authSecurity as security } from '../auth/http-auth.js';
import { requirePrincipal } from '../auth/index.js';
import { untilCommitted } from './commit-wait.js';
import { TooLargeBody, useIngestBodies } from './ingest-body.js';
import type { TelemetryService } from './telemetry.service.js';

const tags = ['telemetry'];
const ROUTE = '/api/v1/vehicles/:vin/telemetry';

/** How much larger than one message an HTTP batch may be, in total. */
export const HTTP_BATCH_FACTOR = 8;

export async function registerTelemetryRoutes(
  http: HttpServer,
  telemetry: TelemetryService,
  maxPayloadBytes: number,
  /** How long a POST waits for its commit before answering 503 (TACHO_INGEST_TIMEOUT_MS). */
  commitWaitMs: number,
): Promise<void> {
  // One message may be TACHO_MAX_PAYLOAD_BYTES whatever the transport; an HTTP body carries up to 1,000
  // messages, so it may be 8 times that (2 MiB by default) in total (decision 0012).
  const bodyLimit = maxPayloadBytes * HTTP_BATCH_FACTOR;
  // An encapsulated scope with its own JSON parser: the route reads the raw body itself, so malformed
  // JSON becomes a dead letter like over MQTT instead of a bare parser error, and so does a body over the
  // limit (its beginning, when the caller may publish for the vehicle). No text/plain: 415.
  await http.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    useIngestBodies(scope, bodyLimit, (bytes, _request, done) => done(null, bytes));
    scope.post(
      ROUTE,
      {
        schema: {
          tags,
          security,
          summary: 'Send telemetry for a vehicle: one native message or an array of up to 1,000',
          description:
            'Answers only after the messages are committed. A vehicle token for this vehicle, or a user ' +
            'with write access to it. Refused messages are kept as dead letters and listed in `errors`; a ' +
            'body with nothing valid is 400. Resending a message (same ts and seq) stores nothing twice. ' +
            'Each message may be up to TACHO_MAX_PAYLOAD_BYTES (as over MQTT), the body up to 8 times ' +
            'that (413, kept as a dead letter); only application/json (415 otherwise).',
          params: Type.Object({ vin: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: { 200: PublishResult },
        },
      },
      async (request) => {
        const principal = requirePrincipal(request);
        const body =
          Buffer.isBuffer(request.body) || request.body instanceof TooLargeBody
            ? request.body
            : Buffer.alloc(0);
        return untilCommitted(
          telemetry.publish(principal, request.params.vin, body, ROUTE, bodyLimit),
          commitWaitMs,
        );
      },
    );
  });

  http.get(
    '/api/v1/admin/dead-letters',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'Refused telemetry, newest first (admin)',
        querystring: DeadLettersQuery,
        response: { 200: DeadLetterPage },
      },
    },
    async (request) =>
      telemetry.deadLetters(requirePrincipal(request), {
        limit: request.query.limit,
        ...(request.query.before !== undefined ? { before: request.query.before } : {}),
      }),
  );
}
