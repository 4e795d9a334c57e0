import { createContext, useContext } from 'react';

/** Settings the server decides for the dashboard (`/config.json`). */
export interface WebConfig {
  mapTiles: string;
  /** Where devices reach the MQTT broker, e.g. mqtt://host:1883; null when the server has none to offer. */
  mqttUrl: string | null;
}

export const defaultWebConfig: WebConfig = { mapTiles: '', mqttUrl: null };

export const WebConfigContext = createContext<WebConfig>(defaultWebConfig);

export function useWebConfig(): WebConfig {
  return useContext(WebConfigContext);
}
