import './styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.js';
import { webConfig } from './lib/api.js';
import { defaultWebConfig, WebConfigContext } from './lib/config.js';

const root = document.getElementById('root');
if (root) {
  // The map tile URL and broker address are the server's settings; without them the app still works.
  const config = await webConfig().catch(() => defaultWebConfig);
  createRoot(root).render(
    <StrictMode>
      <WebConfigContext.Provider value={config}>
        <App />
      </WebConfigContext.Provider>
    </StrictMode>,
  );
}
