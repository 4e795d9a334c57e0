import { Ajv, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../lib/errors.js';

// ajv-formats is CommonJS: under NodeNext its default export arrives as the module object.
const addFormats = (formatsPlugin as unknown as { default: (ajv: Ajv) => Ajv }).default;

/** A reply whose body does not match the route's response schema (only when replies are checked). */
export class ReplyMismatch extends AppError {
  constructor(message: string) {
    super(500, 'reply_schema_mismatch', message);
  }
}

type ResponseSchemas = Record<string, unknown>;

/** The schema a route declares for this status: exact, then `2xx`-style, then `default`. */
export function responseSchemaFor(response: ResponseSchemas | undefined, status: number): unknown {
  if (!response) return undefined;
  const found = response[String(status)] ?? response[`${String(status)[0]}xx`] ?? response.default;
  // OpenAPI style: `{ content: { 'application/json': { schema } } }`.
  const content = (found as { content?: Record<string, { schema?: unknown }> } | undefined)?.content;
  return content ? content['application/json']?.schema : found;
}

/**
 * Tests turn this on (`checkReplies`): every JSON reply is checked against its route's response schema,
 * the wire types of packages/protocol, and a reply that does not match is a 500 `reply_schema_mismatch`
 * naming the route and the first differences. Fastify only uses response schemas to serialize, which
 * silently drops or coerces what does not fit; this makes the difference fail the test that hit it.
 */
export function installReplyCheck(app: FastifyInstance): void {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const compiled = new WeakMap<object, ValidateFunction>();
  app.addHook('preSerialization', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const response = request.routeOptions.schema?.response as ResponseSchemas | undefined;
    const schema = responseSchemaFor(response, reply.statusCode);
    if (!schema || typeof schema !== 'object') return payload;
    let validate = compiled.get(schema);
    if (!validate) {
      validate = ajv.compile(schema);
      compiled.set(schema, validate);
    }
    // What goes on the wire: dates become strings, undefined fields vanish.
    const wire = payload === undefined ? undefined : JSON.parse(JSON.stringify(payload));
    if (!validate(wire)) {
      const differences = (validate.errors ?? [])
        .slice(0, 5)
        .map((e) => `${e.instancePath || '/'} ${e.message ?? 'does not match'}`)
        .join('; ');
      throw new ReplyMismatch(
        `the ${reply.statusCode} reply of ${request.method} ${request.routeOptions.url} does not match its schema: ${differences}`,
      );
    }
    return payload;
  });
}
