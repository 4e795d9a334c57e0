import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createMetricsRegistry } from './metrics.js';
import { createHttpServer, type HttpServer } from './server.js';
import { registerWebApp } from './static.js';

describe('dashboard files', () => {
  let http: HttpServer | undefined;
  let dir = '';
  afterEach(async () => {
    await http?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function serve(withBuild: boolean): Promise<HttpServer> {
    dir = mkdtempSync(join(tmpdir(), 'tacho-web-'));
    if (withBuild) {
      mkdirSync(join(dir, 'assets'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Tacho</title>');
      writeFileSync(join(dir, 'assets', 'main-abc123.js'), 'console.log(1)');
    }
    const config = loadConfig(
      {
        TACHO_DATA_DIR: dir,
        TACHO_MAP_TILES: 'https://tiles.example.org/{z}/{x}/{y}.png',
        TACHO_PUBLIC_URL: 'https://tacho.example.org',
        TACHO_MQTT_PORT: '1884',
      },
      dir,
    );
    http = await createHttpServer(config, createLogger('silent'), createMetricsRegistry());
    await registerWebApp(http, config, dir);
    return http;
  }

  it('serves index.html at / and for deep links, hashed assets with a long cache', async () => {
    const app = await serve(true);
    for (const url of ['/', '/vehicles/123', '/settings?tab=tokens']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toContain('<title>Tacho</title>');
    }
    const asset = await app.inject({ method: 'GET', url: '/assets/main-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);
    expect(asset.headers['cache-control']).toContain('immutable');
  });

  it('keeps unknown /api paths and missing assets as JSON 404s and never leaves the directory', async () => {
    const app = await serve(true);
    for (const url of ['/api/v1/nope', '/api', '/assets/missing.js', '/..%2f..%2fetc/passwd.txt']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it('serves the map tile setting and the broker address for devices at /config.json', async () => {
    const app = await serve(true);
    const res = await app.inject({ method: 'GET', url: '/config.json' });
    expect(res.json()).toEqual({
      mapTiles: 'https://tiles.example.org/{z}/{x}/{y}.png',
      mqttUrl: 'mqtt://tacho.example.org:1884',
      offlineAfterS: 600,
    });
  });

  it('says how to build the dashboard when it is missing', async () => {
    const app = await serve(false);
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
  });
});

for (const engine of engines) {
  describe(`dashboard in the whole app [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    it('answers /config.json and keeps API 404s as JSON', async () => {
      app = await createTestApp(engine);
      expect((await app.http.inject({ method: 'GET', url: '/config.json' })).statusCode).toBe(200);
      const res = await app.http.inject({ method: 'GET', url: '/api/v1/does-not-exist' });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: { code: 'not_found' } });
    });
  });
}
