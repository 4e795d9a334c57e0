import type { Registry } from 'prom-client';
import type { Storage } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { ALERTS_PROCESSOR, createAlertsProcessor } from '../alerts/alerts.processor.js';
import type { DetectorSettings } from '../sessions/detector.js';
import { createSessionsProcessor, SESSIONS_PROCESSOR } from '../sessions/sessions.processor.js';
import { type ProcessorSpec, ThreadPasses } from './processing-thread.js';
import { ProcessingRunner, type Processor } from './runner.js';

export { ProcessingRunner } from './runner.js';

/** Every processor on the after-commit path, in the order a pass runs them; ingest leaves marks for each. */
export const PROCESSORS = [SESSIONS_PROCESSOR, ALERTS_PROCESSOR] as const;

/** Builds a processor by name (here, or in the processing thread, which cannot be handed functions). */
export function buildProcessor(spec: ProcessorSpec): Processor<unknown> {
  switch (spec.name) {
    case 'sessions':
      return createSessionsProcessor(spec.detector) as unknown as Processor<unknown>;
    case 'alerts':
      return createAlertsProcessor(spec.detector) as unknown as Processor<unknown>;
  }
}

/**
 * The after-commit processing path (decision 0017): one runner for every processor. On a SQLite file the
 * passes run in a thread of their own (each query blocks the thread it runs on); PostgreSQL's queries do
 * not block, and an in-memory SQLite database has no file to share.
 */
export function createProcessing(deps: {
  storage: Pick<Storage, 'db' | 'engine' | 'file'>;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
  detector?: Partial<DetectorSettings>;
}): ProcessingRunner {
  const logger = deps.logger.child({ part: 'processing' });
  const registry = deps.registry ? { registry: deps.registry } : {};
  const specs: ProcessorSpec[] = PROCESSORS.map((name) => ({
    name,
    ...(deps.detector ? { detector: deps.detector } : {}),
  }));
  const { engine, file } = deps.storage;
  if (engine === 'sqlite' && file !== null)
    return new ProcessingRunner(
      {
        clock: deps.clock,
        logger,
        ...registry,
        passes: new ThreadPasses({ file, processors: specs }, logger),
      },
      // New marks once a second at most, so a flood of messages makes rounds bigger (cheaper per sample);
      // a backlog (a round that read all it may and left more) goes on at once. No share
      // of the time beyond that: the thread runs at a low priority and never holds the write lock
      // (decision 0032), and held back it fell behind the writer's hand-over (decision 0029) and read its
      // samples back from the database, which cost more in all.
      { pollMs: 1000 },
    );
  return new ProcessingRunner(
    { clock: deps.clock, logger, ...registry, storage: deps.storage, processors: specs.map(buildProcessor) },
    // In-memory SQLite: every query of a round blocks the event loop; a quarter of its time at most.
    { duty: engine === 'sqlite' ? 0.25 : 1 },
  );
}
