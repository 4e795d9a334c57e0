import type { Registry } from 'prom-client';
import type { Config } from '../../config.js';
import type { Storage } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Vehicles } from '../vehicles/index.js';
import { untilCommitted } from './commit-wait.js';
import { type DeviceIdentity, DeviceTopics, namesDevice, nativeTopicRef } from './device-topics.js';
import { IngestPipeline, type PipelineOptions } from './pipeline.js';
import { registerTelemetryRoutes } from './telemetry.routes.js';
import { TelemetryService } from './telemetry.service.js';

export {
  commandsTopic,
  commandsTopicRef,
  type DeviceIdentity,
  type DeviceTopic,
  DeviceTopics,
  type FleetIdentity,
  type FleetLogin,
  namesDevice,
  nativeTopic,
  nativeTopicRef,
} from './device-topics.js';
export { JsonBody, jsonBodies, readBody, TooLargeBody, useIngestBodies } from './ingest-body.js';
export { oversizedMessages } from './message-size.js';
export {
  IngestPipeline,
  type IngestResult,
  type IngestSource,
  type PipelineOptions,
  type StoredSample,
} from './pipeline.js';
export type { DeadLetterPage } from './telemetry.repo.js';
export { HTTP_BATCH_FACTOR } from './telemetry.routes.js';
export { type PublishResult, TelemetryService } from './telemetry.service.js';
export type { Rejection, RejectionCode } from './validate.js';

/** The telemetry feature as the rest of the app sees it. */
export interface Telemetry {
  /** `ingest(source, messages)` for every source format. */
  readonly pipeline: IngestPipeline;
  readonly service: TelemetryService;
  /** MQTT topic families devices may publish to; source formats add theirs. */
  readonly deviceTopics: DeviceTopics;
  /**
   * For HTTP ingest routes: `work` (an ingest call), or 503 `ingest_timeout` with Retry-After once it has
   * waited TACHO_INGEST_TIMEOUT_MS for its commit.
   */
  untilCommitted<T>(work: Promise<T>): Promise<T>;
  /** For `/ready`: the pipeline writes (false while the database refuses them). */
  readonly readiness: { readonly name: string; check(): Promise<boolean> };
  /** Writes what is queued, then stops. Call after the broker stopped taking messages. */
  close(timeoutMs?: number): Promise<void>;
}

export async function createTelemetry(deps: {
  http: HttpServer;
  config: Config;
  storage: Storage;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  metrics: Registry;
  vehicles: Vehicles;
  options?: Partial<PipelineOptions>;
}): Promise<Telemetry> {
  const pipeline = new IngestPipeline(
    {
      storage: deps.storage,
      clock: deps.clock,
      events: deps.events,
      logger: deps.logger.child({ part: 'ingest' }),
      registry: deps.metrics,
    },
    {
      maxPayloadBytes: deps.config.maxPayloadBytes,
      deadLetterLimits: {
        maxAgeMs: deps.config.deadLetterMaxAgeDays * 86_400_000,
        maxBytes: deps.config.deadLetterMaxMb * 1024 * 1024,
      },
      ...deps.options,
    },
  );
  const service = new TelemetryService(deps.storage, deps.vehicles, pipeline);
  await registerTelemetryRoutes(deps.http, service, deps.config.maxPayloadBytes, deps.config.ingestTimeoutMs);

  const deviceTopics = new DeviceTopics({
    maxPayloadBytes: deps.config.maxPayloadBytes,
    refuse: (source, rejection, payload) => pipeline.rejectPayload(source, rejection, payload),
    logger: deps.logger.child({ part: 'ingest' }),
  });
  deviceTopics.add({
    name: 'native',
    matches: (topic: string, device: DeviceIdentity) => namesDevice(nativeTopicRef(topic), device),
    handle: (device, topic, payload) =>
      pipeline.ingestPayload({ source: 'mqtt', topic, vehicleId: device.vehicleId }, payload),
    external: {
      filter: 'tacho/v1/+/telemetry',
      vinOf: nativeTopicRef,
    },
  });

  return {
    pipeline,
    service,
    deviceTopics,
    untilCommitted: (work) => untilCommitted(work, deps.config.ingestTimeoutMs),
    readiness: { name: 'ingest', check: async () => pipeline.isHealthy() },
    close: (timeoutMs) => pipeline.close(timeoutMs),
  };
}
