import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Aliases } from '../aliases/index.js';
import type { Auth } from '../auth/index.js';
import { namesDevice, type Telemetry } from '../telemetry/index.js';
import type { Vault } from '../vault/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { registerFormatRoutes } from './formats.routes.js';
import { FormatIngest } from './formats.service.js';
import { teslaTopicVin } from './tesla.js';
import { TeslaStream, teslaFleetLogin } from './tesla-stream.js';

export type { DecodeDeadLetter, Decoded, FormatEvent } from './decoded.js';
export { eventMessage, FormatIngest, type FormatResult } from './formats.service.js';
export {
  decodeDtcResponse,
  decodeObdResponse,
  encodeObdResponse,
  expandObd,
  listPids,
  type PidSignal,
} from './obd.js';
export { TESLA_FLEET_USERNAME, TESLA_GROUP_WINDOW_MS } from './tesla-stream.js';

/** VinFast pushes: `/mobile/<VIN>/push` (or the vehicle's id in place of the VIN). */
export const vinfastTopic = (vin: string): string => `/mobile/${vin}/push`;

/**
 * Builds the source formats: HTTP ingest routes, device-id bindings, and the MQTT topic families
 * `/mobile/<VIN>/push` (VinFast), `owntracks/<VIN>/<device>[/<kind>]` (OwnTracks, with the VIN as MQTT
 * username) and `<teslaTopicBase>/<VIN>/…` (Tesla fleet-telemetry, also through its own broker login),
 * all feeding the telemetry pipeline.
 */
export function createFormats(deps: {
  http: HttpServer;
  db: Db;
  vault: Vault;
  clock: Clock;
  logger: Logger;
  auth: Auth;
  vehicles: Vehicles;
  aliases: Aliases;
  telemetry: Telemetry;
  /** TACHO_TESLA_TOPIC_BASE. */
  teslaTopicBase: string;
  /** How long Tesla field messages are gathered into one sample (TESLA_GROUP_WINDOW_MS). */
  teslaGroupWindowMs?: number;
}): FormatIngest {
  const ingest = new FormatIngest({
    db: deps.db,
    vault: deps.vault,
    clock: deps.clock,
    vehicles: deps.vehicles,
    aliases: deps.aliases,
    pipeline: deps.telemetry.pipeline,
    logger: deps.logger,
  });
  registerFormatRoutes(deps.http, ingest, deps.auth, deps.telemetry.untilCommitted);
  deps.telemetry.deviceTopics.add({
    name: 'vinfast',
    matches: (topic, device) => namesDevice(/^\/mobile\/([^/]+)\/push$/.exec(topic)?.[1], device),
    handle: (device, topic, payload) => ingest.vinfastMqtt(device, topic, payload),
    external: {
      filter: '/mobile/+/push',
      vinOf: (topic) => /^\/mobile\/([^/]+)\/push$/.exec(topic)?.[1] ?? null,
    },
  });
  const owntracks = /^owntracks\/([^/]+)\/[^/]+(\/[^/]+)?$/;
  deps.telemetry.deviceTopics.add({
    name: 'owntracks',
    matches: (topic, device) => namesDevice(owntracks.exec(topic)?.[1], device),
    handle: (device, topic, payload) => ingest.owntracksMqtt(device, topic, payload),
    external: { filter: 'owntracks/#', vinOf: (topic) => owntracks.exec(topic)?.[1] ?? null },
  });
  const base = deps.teslaTopicBase;
  const tesla = new TeslaStream({
    base,
    clock: deps.clock,
    store: (source, decoded) => ingest.store(source, decoded),
    ...(deps.teslaGroupWindowMs !== undefined ? { windowMs: deps.teslaGroupWindowMs } : {}),
  });
  deps.telemetry.deviceTopics.add({
    name: 'tesla',
    matches: (topic, device) => namesDevice(teslaTopicVin(base, topic), device),
    handle: (device, topic, payload) => tesla.handle(device, topic, payload),
    external: { filter: `${base}/#`, vinOf: (topic) => teslaTopicVin(base, topic) },
    groups: true,
  });
  deps.telemetry.deviceTopics.addFleetLogin(
    teslaFleetLogin({
      base,
      auth: deps.auth,
      vehicles: deps.vehicles,
      topics: deps.telemetry.deviceTopics,
      clock: deps.clock,
    }),
  );
  return ingest;
}
