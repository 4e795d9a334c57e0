import { existsSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { WebConfig } from '@tacho/protocol';
import type { Config } from '../../config.js';
import type { HttpServer } from './server.js';

export type { WebConfig };

/** The broker address a device should use: the embedded one on the public host name, or the external one. */
export function deviceMqttUrl(config: Config): string | null {
  if (config.mqtt.kind === 'external') return config.mqtt.url;
  if (config.mqtt.port === 0) return null;
  return `mqtt://${new URL(config.publicUrl).hostname}:${config.mqtt.port}`;
}

/** The built dashboard, wherever the server runs from (src through tsx/vitest, or dist). */
export const defaultWebDir = fileURLToPath(new URL('../../../../web/dist', import.meta.url));

/** Paths that belong to the server itself: an unknown one is a JSON 404, never the dashboard's page. */
const serverPaths = /^\/(api|mqtt|health|ready|metrics)(\/|$)/;

/**
 * Serves the built dashboard at `/` with an SPA fallback: a deep link such as `/vehicles/12` gets
 * index.html so the browser-side router can take over, while unknown `/api/*` paths keep the JSON 404.
 * Hashed assets are cached for a year; index.html is revalidated every time so a new build shows at once.
 */
export async function registerWebApp(
  http: HttpServer,
  config: Config,
  webDir: string = defaultWebDir,
): Promise<void> {
  http.get(
    '/config.json',
    { schema: { hide: true, response: { 200: WebConfig } } },
    async (_request, reply) => {
      const body: WebConfig = {
        mapTiles: config.mapTiles,
        mqttUrl: deviceMqttUrl(config),
        offlineAfterS: config.offlineAfterS,
      };
      return reply.header('cache-control', 'no-cache').send(body);
    },
  );

  const root = normalize(webDir);
  // The build writes a brotli and a gzip copy beside each text file (apps/web/build-compress.ts): sent as
  // they are to a browser that accepts them, with Vary: Accept-Encoding.
  await http.register(fastifyStatic, { root, serve: false, decorateReply: true, preCompressed: true });

  http.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const path = decodeURIComponent(request.url.split('?')[0] ?? '/');
    if (serverPaths.test(path)) return reply.callNotFound();
    const indexFile = join(root, 'index.html');
    if (!existsSync(indexFile)) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built yet: run `npm run build -w @tacho/web` (npm start does it).');
    }
    // Browsers and tools that ask for the classic icon get the dashboard's SVG one.
    if (path === '/favicon.ico' && isFile(join(root, 'favicon.svg')))
      return reply.redirect('/favicon.svg', 301);
    const file = join(root, path);
    // `join` already resolves `..`; a path that still leaves the root is refused rather than served.
    if (file.startsWith(root + sep) && isFile(file)) {
      const hashed = path.startsWith('/assets/');
      reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      return reply.sendFile(file.slice(root.length + 1), root, { cacheControl: false });
    }
    // A missing script or image is a real 404; anything else is a page of the dashboard.
    if (extname(path) !== '' && extname(path) !== '.html') return reply.callNotFound();
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', root, { cacheControl: false });
  });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
