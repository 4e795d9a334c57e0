import { Type } from 'typebox';
import type { HttpServer } from './server.js';

/** A part of the system `/ready` asks; `check` rejects (or returns false) when the part is down. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<unknown>;
}

const CHECK_TIMEOUT_MS = 2000;

async function probe(check: ReadinessCheck): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    const ok = await Promise.race([check.check().then((r) => r !== false), timeout]);
    return ok;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealthRoutes(app: HttpServer, checks: () => readonly ReadinessCheck[]): void {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
      logLevel: 'warn',
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the database and the broker answer',
        response: {
          200: Type.Object({
            status: Type.Literal('ready'),
            checks: Type.Record(Type.String(), Type.String()),
          }),
          503: Type.Object({
            status: Type.Literal('unavailable'),
            down: Type.Array(Type.String()),
            checks: Type.Record(Type.String(), Type.String()),
          }),
        },
      },
      logLevel: 'warn',
    },
    async (_request, reply) => {
      const list = checks();
      const results = await Promise.all(list.map(probe));
      const status = Object.fromEntries(list.map((c, i) => [c.name, results[i] ? 'up' : 'down']));
      const down = list.filter((_, i) => !results[i]).map((c) => c.name);
      if (down.length > 0)
        return reply.status(503).send({ status: 'unavailable' as const, down, checks: status });
      return { status: 'ready' as const, checks: status };
    },
  );
}
