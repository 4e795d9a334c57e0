import { createContext, useContext } from 'react';

/** Settings the server decides for the dashboard (`/config.json`). */
export interface WebConfig {
  mapTiles: string;
  /** Where devices reach the MQTT broker, e.g. mqtt://host:1883; null when the server has none to offer. */
  mqttUrl: string | null;
  /** TACHO_OFFLINE_AFTER_S: a vehicle silent this long shows as offline, without a reload. */
  offlineAfterS: number;
}

export const defaultWebConfig: WebConfig = { mapTiles: '', mqttUrl: null, offlineAfterS: 600 };

export const WebConfigContext = createContext<WebConfig>(defaultWebConfig);

export function useWebConfig(): WebConfig {
  return useContext(WebConfigContext);
}
