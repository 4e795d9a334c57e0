import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../lib/logger.js';
import { createMetricsRegistry } from './metrics.js';
import { createHttpServer, type HttpServer } from './server.js';
import { registerWebApp } from './static.js';

describe('dashboard files are sent precompressed', () => {
  let http: HttpServer | undefined;
  let dir = '';
  afterEach(async () => {
    await http?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const script = `console.log(${JSON.stringify('x'.repeat(20_000))});\n`;

  async function serve(): Promise<HttpServer> {
    dir = mkdtempSync(join(tmpdir(), 'tacho-web-'));
    mkdirSync(join(dir, 'assets'));
    const html = `<!doctype html><title>Tacho</title>${'<!-- padding -->'.repeat(200)}`;
    writeFileSync(join(dir, 'index.html'), html);
    writeFileSync(join(dir, 'index.html.br'), brotliCompressSync(html));
    writeFileSync(join(dir, 'index.html.gz'), gzipSync(html));
    writeFileSync(join(dir, 'assets', 'main-abc123.js'), script);
    writeFileSync(join(dir, 'assets', 'main-abc123.js.br'), brotliCompressSync(script));
    writeFileSync(join(dir, 'assets', 'main-abc123.js.gz'), gzipSync(script));
    const config = loadConfig({ TACHO_DATA_DIR: dir }, dir);
    http = await createHttpServer(config, createLogger('silent'), createMetricsRegistry());
    await registerWebApp(http, config, dir);
    return http;
  }

  it('sends the brotli copy to a browser that accepts it, gzip to one that only takes gzip, and plain otherwise', async () => {
    const app = await serve();
    const url = '/assets/main-abc123.js';
    const br = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.statusCode).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toMatch(/javascript/);
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.headers['cache-control']).toContain('immutable');
    expect(br.rawPayload.length).toBeLessThan(script.length / 10);
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(script);

    const gz = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(script);

    const plain = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(script);
  });

  it('answers /favicon.ico with the way to the SVG icon', async () => {
    const app = await serve();
    writeFileSync(
      join(dir, 'favicon.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg"><title>Tacho</title></svg>',
    );
    const ico = await app.inject({ method: 'GET', url: '/favicon.ico' });
    expect(ico.statusCode).toBe(301);
    expect(ico.headers.location).toBe('/favicon.svg');
    const svg = await app.inject({ method: 'GET', url: '/favicon.svg' });
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toContain('image/svg+xml');
  });

  it('sends index.html compressed too, for a deep link as for /', async () => {
    const app = await serve();
    for (const url of ['/', '/vehicles/12/history']) {
      const res = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'br' } });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-encoding'], url).toBe('br');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(brotliDecompressSync(res.rawPayload).toString()).toContain('<title>Tacho</title>');
    }
  });
});
