import type { WebConfig } from '@tacho/protocol';
import { createContext, useContext } from 'react';

/** Settings the server decides for the dashboard (`/config.json`), as the protocol defines them. */
export type { WebConfig };

export const defaultWebConfig: WebConfig = { mapTiles: '', mqttUrl: null, offlineAfterS: 600 };

export const WebConfigContext = createContext<WebConfig>(defaultWebConfig);

export function useWebConfig(): WebConfig {
  return useContext(WebConfigContext);
}
