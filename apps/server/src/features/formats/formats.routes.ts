import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CreateDeviceBinding, DeviceBindingKind, DeviceBindingView, IngestCounts } from '@tacho/protocol';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Unauthorized } from '../../lib/errors.js';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { Auth } from '../auth/index.js';
import type { Principal } from '../auth/principal.js';
import {
  HTTP_BATCH_FACTOR,
  jsonBodies,
  readBody,
  TooLargeBody,
  useIngestBodies,
} from '../telemetry/index.js';
import type { DeviceBinding } from './device-bindings.repo.js';
import type { FormatIngest } from './formats.service.js';
import type { OsmandInput } from './http-body.js';

const tags = ['ingest'];
const Vin = Type.Object({ vin: Type.String({ minLength: 1, maxLength: 40 }) });

function bindingView(b: DeviceBinding) {
  return {
    kind: b.kind,
    deviceId: b.device_id,
    vehicleId: b.vehicle_id,
    encrypted: b.secret !== null,
    createdMs: b.created_ms,
  };
}

/** `a=1&b=2` → fields; a repeated field becomes an array (the decoder reads the last value). */
function parseForm(text: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = fields[key];
    fields[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return fields;
}

/**
 * `untilCommitted` bounds how long an ingest request waits for its commit (TACHO_INGEST_TIMEOUT_MS; 503
 * with Retry-After beyond it).
 */
export function registerFormatRoutes(
  http: HttpServer,
  ingest: FormatIngest,
  auth: Auth,
  untilCommitted: <T>(work: Promise<T>) => Promise<T>,
): void {
  /** Apps that only do HTTP Basic (OwnTracks) put the vehicle token in the password. */
  async function principalOf(request: FastifyRequest, token?: unknown): Promise<Principal | null> {
    if (request.principal) return request.principal;
    const header = request.headers.authorization;
    let secret: string | null = typeof token === 'string' && token !== '' ? token : null;
    if (typeof header === 'string' && /^basic /i.test(header)) {
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      secret = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (secret === null) return null;
    const principal = await auth.authenticateBearer(secret);
    if (!principal) throw new Unauthorized('the token is invalid, expired or revoked', 'invalid_token');
    return principal;
  }

  // The ingest routes read their own bodies (decision 0012): JSON (and Traccar's forms) only, `text/plain`
  // is 415; a body over its limit reaches the route, which keeps its beginning as a dead letter once the
  // caller is known to publish for the vehicle, and answers 413; each message is held to the one limit.
  const bodyLimit = ingest.maxMessageBytes * HTTP_BATCH_FACTOR;
  http.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    useIngestBodies(scope, bodyLimit, jsonBodies(scope));

    scope.post(
      '/api/v1/ingest/vinfast/:vin',
      {
        schema: {
          tags,
          security,
          summary: 'VinFast device-key records for a vehicle (replied after commit)',
          params: Vin,
          response: { 200: IngestCounts },
        },
      },
      async (request) =>
        untilCommitted(
          ingest.vinfastHttp(
            requirePrincipal(request),
            request.params.vin,
            request.body,
            '/api/v1/ingest/vinfast',
          ),
        ),
    );

    scope.post(
      '/api/v1/ingest/owntracks',
      {
        schema: {
          tags,
          security,
          summary:
            'OwnTracks HTTP mode: user/device from ?u=&d= or X-Limit-U / X-Limit-D; replies a JSON array',
          querystring: Type.Object({ u: Type.Optional(Type.String()), d: Type.Optional(Type.String()) }),
        },
      },
      async (request, reply) => {
        const principal = await principalOf(request);
        if (!principal) throw new Unauthorized();
        const header = (name: string) => {
          const v = request.headers[name];
          return typeof v === 'string' ? v : undefined;
        };
        const user =
          request.query.u ??
          header('x-limit-u') ??
          (principal.kind === 'vehicle' ? (principal.vin ?? principal.vehicleId) : 'user');
        const device = request.query.d ?? header('x-limit-d') ?? 'phone';
        await untilCommitted(
          ingest.owntracksHttp(principal, user, device, request.body, '/api/v1/ingest/owntracks'),
        );
        // OwnTracks reads the reply as messages to show (friends, commands); Tacho has none to send.
        return reply.type('application/json').send('[]');
      },
    );

    // Traccar Client posts its fields in the query string with an empty body, others as a form or JSON. A
    // form is one message, so its limit is one message's.
    scope.addContentTypeParser('application/x-www-form-urlencoded', (request, payload, done) =>
      readBody(request, payload, ingest.maxMessageBytes, (error, body) => {
        if (error) done(error);
        else done(null, body instanceof TooLargeBody ? body : parseForm(body!.toString('utf8')));
      }),
    );
    const osmand = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
      const query = (request.query ?? {}) as Record<string, unknown>;
      const body = request.body;
      const isJson = (request.headers['content-type'] ?? '').includes('application/json');
      const tooLarge = body instanceof TooLargeBody ? body : undefined;
      const fields = {
        ...query,
        ...(!isJson && !tooLarge && body && typeof body === 'object'
          ? (body as Record<string, unknown>)
          : {}),
      };
      const principal = await principalOf(request, fields.token);
      delete fields.token;
      const input: OsmandInput = tooLarge ? { fields, tooLarge } : isJson ? { json: body } : { fields };
      await untilCommitted(ingest.osmand(principal, input, '/api/v1/ingest/osmand'));
      return reply.status(200).send();
    };
    const schema = { tags, security, summary: 'Traccar Client / OsmAnd positions (id or deviceid required)' };
    scope.get('/api/v1/ingest/osmand', { schema }, osmand);
    scope.post('/api/v1/ingest/osmand', { schema }, osmand);

    scope.post(
      '/api/v1/ingest/overland',
      {
        schema: {
          tags,
          security,
          summary: 'Overland (iOS) batches; replies exactly {"result":"ok"} once stored',
          querystring: Type.Object({ vehicleId: Type.Optional(Type.String({ maxLength: 64 })) }),
        },
      },
      async (request, reply) => {
        const principal = await principalOf(request, (request.query as { token?: unknown }).token);
        if (!principal) throw new Unauthorized();
        await untilCommitted(
          ingest.overland(principal, request.query.vehicleId, request.body, '/api/v1/ingest/overland'),
        );
        return reply.type('application/json').send('{"result":"ok"}');
      },
    );
  });

  const VehicleId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
  http.get(
    '/api/v1/vehicles/:id/devices',
    {
      schema: {
        tags,
        security,
        summary: 'Phone and tracker ids bound to the vehicle',
        params: VehicleId,
        response: { 200: Type.Array(DeviceBindingView) },
      },
    },
    async (request) =>
      (await ingest.listBindings(requirePrincipal(request), request.params.id)).map(bindingView),
  );

  http.post(
    '/api/v1/vehicles/:id/devices',
    {
      schema: {
        tags,
        security,
        summary: 'Bind an OwnTracks "user/device" (with its encryption secret) or a Traccar Client id',
        params: VehicleId,
        body: CreateDeviceBinding,
        response: { 201: DeviceBindingView },
      },
    },
    async (request, reply) => {
      const binding = await ingest.bind(requirePrincipal(request), request.params.id, request.body);
      return reply.status(201).send(bindingView(binding));
    },
  );

  http.delete(
    '/api/v1/vehicles/:id/devices/:kind/:deviceId',
    {
      schema: {
        tags,
        security,
        summary: 'Unbind a device id',
        params: Type.Object({
          id: Type.String(),
          kind: DeviceBindingKind,
          deviceId: Type.String({ maxLength: 128 }),
        }),
      },
    },
    async (request, reply) => {
      const { id, kind, deviceId } = request.params;
      await ingest.unbind(requirePrincipal(request), id, kind, deviceId);
      return reply.status(204).send();
    },
  );
}
