import { type Static, Type } from 'typebox';

/** `GET /config.json`: what the dashboard reads before it starts, settings that are the server's to decide. */
export const WebConfig = Type.Object({
  /** Leaflet tile URL template from TACHO_MAP_TILES (empty: a plain background). */
  mapTiles: Type.String(),
  /** Where devices reach the MQTT broker (shown with a new device token), or null without a TCP broker. */
  mqttUrl: Type.Union([Type.String(), Type.Null()]),
  /** TACHO_OFFLINE_AFTER_S: the dashboard turns a vehicle "offline" at this age itself, without a reload. */
  offlineAfterS: Type.Integer({ minimum: 1 }),
});
export type WebConfig = Static<typeof WebConfig>;
