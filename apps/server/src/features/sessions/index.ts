import type { Registry } from 'prom-client';
import type { Db, Storage } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Audit } from '../auth/audit.js';
import { ThreadPasses } from '../processing/processing-thread.js';
import { ProcessingRunner, type Processor } from '../processing/runner.js';
import type { ReadingsService } from '../readings/index.js';
import type { Vehicles } from '../vehicles/index.js';
import type { DetectorSettings } from './detector.js';
import { createSessionsProcessor, SESSIONS_PROCESSOR } from './sessions.processor.js';
import { registerSessionRoutes } from './sessions.routes.js';
import { SessionsService } from './sessions.service.js';

export { SESSIONS_PROCESSOR } from './sessions.processor.js';
export { SessionsService } from './sessions.service.js';

/** Sessions: the processor that records drives and charges, its runner, and the API. */
export interface Sessions {
  readonly service: SessionsService;
  readonly runner: ProcessingRunner;
  /** Stops the runner and closes its connection. */
  close(): Promise<void>;
}

export function createSessions(deps: {
  http: HttpServer;
  storage: Pick<Storage, 'db' | 'engine' | 'file'>;
  db: Db;
  clock: Clock;
  logger: Logger;
  vehicles: Vehicles;
  readings: ReadingsService;
  audit: Audit;
  registry?: Registry;
  detector?: Partial<DetectorSettings>;
}): Sessions {
  const logger = deps.logger.child({ part: 'processing' });
  const registry = deps.registry ? { registry: deps.registry } : {};
  const { engine, file } = deps.storage;
  // On a SQLite file the passes run in a thread of their own (each query blocks the thread it runs on);
  // PostgreSQL's queries do not block, and an in-memory SQLite database has no file to share.
  const runner =
    engine === 'sqlite' && file !== null
      ? new ProcessingRunner({
          clock: deps.clock,
          logger,
          ...registry,
          passes: new ThreadPasses(
            {
              file,
              processors: [{ name: 'sessions', ...(deps.detector ? { detector: deps.detector } : {}) }],
            },
            logger,
          ),
        })
      : new ProcessingRunner(
          {
            clock: deps.clock,
            logger,
            ...registry,
            storage: deps.storage,
            processors: [createSessionsProcessor(deps.detector) as unknown as Processor<unknown>],
          },
          // In-memory SQLite: every query of a round blocks the event loop; a quarter of its time at most.
          { duty: engine === 'sqlite' ? 0.25 : 1 },
        );
  const service = new SessionsService({
    db: deps.db,
    clock: deps.clock,
    vehicles: deps.vehicles,
    readings: deps.readings,
    audit: deps.audit,
    processors: [SESSIONS_PROCESSOR],
    poke: () => runner.poke(),
  });
  registerSessionRoutes(deps.http, service);
  return {
    service,
    runner,
    async close() {
      await runner.stop();
    },
  };
}
