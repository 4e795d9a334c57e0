import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Request bodies of the HTTP ingest routes (decision 0012). A body over the route's limit is not answered
 * 413 before the route runs, as Fastify's own limit does: the route still checks who sends it and for
 * which vehicle, and keeps its beginning as a dead letter when the caller may publish there (so nobody
 * else fills the dead-letter table). Only JSON (and forms where a format takes them) is read: anything
 * else, `text/plain` included, is 415 before the route runs.
 */

/** How much of a refused body is read and kept: what a dead letter shows of it. */
const HEAD_BYTES = 2048;

/** A body larger than its route's limit: how large (declared, or read so far) and its first bytes. */
export class TooLargeBody {
  constructor(
    /** Its declared length, or at least this many bytes when it had none. */
    readonly size: number,
    readonly atLeast: boolean,
    readonly limit: number,
    readonly head: Buffer,
  ) {}

  get reason(): string {
    return `body is ${this.atLeast ? 'more than ' : ''}${this.size} bytes, the limit is ${this.limit}`;
  }
}

/** A JSON body as parsed, with its bytes (message sizes are counted in the bytes as sent). */
export class JsonBody {
  constructor(
    readonly value: unknown,
    readonly bytes: Buffer,
  ) {}
}

type Done = (error: Error | null, body?: unknown) => void;

/**
 * Replaces the scope's body parsers: `application/json` is read up to `bodyLimit` bytes and handed to
 * `parse` (a larger body arrives as a TooLargeBody), and `text/plain` has none (415).
 */
export function useIngestBodies(
  scope: FastifyInstance,
  bodyLimit: number,
  parse: (bytes: Buffer, request: FastifyRequest, done: Done) => void,
): void {
  scope.removeContentTypeParser(['application/json', 'text/plain']);
  scope.addContentTypeParser('application/json', (request, payload, done) =>
    readBody(request, payload, bodyLimit, (error, body) => {
      if (error) done(error);
      else if (body instanceof TooLargeBody) done(null, body);
      else parse(body!, request, done);
    }),
  );
}

/** A `parse` for routes that read JSON bodies as objects: Fastify's own parser (prototype-poisoning safe). */
export function jsonBodies(
  scope: FastifyInstance,
): (bytes: Buffer, request: FastifyRequest, done: Done) => void {
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  return (bytes, request, done) =>
    parseJson(request, bytes.toString('utf8'), (error, value) =>
      error ? done(error) : done(null, new JsonBody(value, bytes)),
    );
}

/**
 * Reads a body of at most `limit` bytes. Beyond it, once the first HEAD_BYTES are in, the body is a
 * TooLargeBody and the rest is dropped as it comes, never held.
 */
export function readBody(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  limit: number,
  done: (error: Error | null, body?: Buffer | TooLargeBody) => void,
): void {
  const declared = Number(request.headers['content-length']);
  const tooLarge = declared > limit;
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  const finish = (error: Error | null, body?: Buffer | TooLargeBody) => {
    if (finished) return;
    finished = true;
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(error, body);
  };
  const refuse = () => {
    const head = Buffer.concat(chunks).subarray(0, HEAD_BYTES);
    chunks.length = 0;
    finish(null, new TooLargeBody(tooLarge ? declared : received, !tooLarge, limit, head));
    // The rest is read and dropped, as Node does with a body nobody reads, so the client sees the reply.
    payload.resume();
  };
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    received += bytes.length;
    if (tooLarge) {
      chunks.push(bytes);
      if (received >= HEAD_BYTES) refuse();
      return;
    }
    chunks.push(bytes);
    if (received > limit) refuse();
  };
  const onEnd = () => {
    if (tooLarge) return refuse();
    if (!Number.isNaN(declared) && received !== declared) {
      return finish(
        clientError('the body is not as long as its Content-Length', 'FST_ERR_CTP_INVALID_CONTENT_LENGTH'),
      );
    }
    finish(null, Buffer.concat(chunks, received));
  };
  const onError = (error: Error) => finish(clientError(error.message, undefined, error));
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  payload.resume();
}

function clientError(message: string, code?: string, cause?: Error): Error {
  return Object.assign(new Error(message, cause ? { cause } : undefined), {
    statusCode: 400,
    ...(code ? { code } : {}),
  });
}
