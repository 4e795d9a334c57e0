import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';

for (const engine of engines) {
  describe(`server shell [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    it('answers /health with {"status":"ok"}', async () => {
      app = await createTestApp(engine);
      const res = await app.http.inject({ method: 'GET', url: '/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
      expect(res.headers['x-request-id']).toMatch(/^[\w.-]+$/);
    });

    it('answers /ready 200 when the database and broker answer, 503 naming the part that is down', async () => {
      app = await createTestApp(engine);
      const ok = await app.http.inject({ method: 'GET', url: '/ready' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ status: 'ready', checks: { database: 'up', broker: 'up', ingest: 'up' } });

      await app.storage.close();
      const down = await app.http.inject({ method: 'GET', url: '/ready' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({
        status: 'unavailable',
        down: ['database'],
        checks: { database: 'down' },
      });
    });

    it('exposes Prometheus metrics with per-route request counts and latency histograms', async () => {
      app = await createTestApp(engine);
      await app.http.inject({ method: 'GET', url: '/health' });
      await app.http.inject({ method: 'GET', url: '/health' });
      const res = await app.http.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/plain');
      expect(res.body).toContain('tacho_http_requests_total{method="GET",route="/health",status="200"} 2');
      expect(res.body).toContain(
        'tacho_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}',
      );
      expect(res.body).toContain('tacho_process_resident_memory_bytes');
    });

    it('serves the OpenAPI document and its viewer at /api/docs', async () => {
      app = await createTestApp(engine);
      const ui = await app.http.inject({ method: 'GET', url: '/api/docs/' });
      expect(ui.statusCode).toBe(200);
      expect(ui.headers['content-type']).toContain('text/html');
      const doc = await app.http.inject({ method: 'GET', url: '/api/docs/json' });
      expect(doc.json()).toMatchObject({
        openapi: expect.stringMatching(/^3\./),
        info: { title: 'Tacho API' },
      });
      expect(Object.keys(doc.json().paths)).toContain('/health');
    });

    it('answers unknown routes with the error shape', async () => {
      app = await createTestApp(engine);
      const res = await app.http.inject({ method: 'GET', url: '/api/v1/nothing-here?x=1' });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({
        error: { code: 'not_found', message: 'no route for GET /api/v1/nothing-here' },
      });
    });

    it('answers a malformed JSON body with 400 and the wrong content type with 415', async () => {
      app = await createTestApp(engine);
      app.http.post('/echo', async (request) => request.body);
      const bad = await app.http.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': 'application/json' },
        payload: '{"a":',
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('invalid_json');
      const wrongType = await app.http.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': 'application/x-unknown' },
        payload: 'x',
      });
      expect(wrongType.statusCode).toBe(415);
      expect(wrongType.json().error.code).toBe('unsupported_media_type');
    });

    it('never lets a stack trace out: an unexpected error is a plain 500', async () => {
      app = await createTestApp(engine);
      app.http.get('/boom', async () => {
        throw new Error('secret internal detail at /srv/tacho/x.ts:42');
      });
      const res = await app.http.inject({ method: 'GET', url: '/boom' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
      expect(res.body).not.toContain('secret');
    });

    it('answers a schema violation with 400 invalid', async () => {
      app = await createTestApp(engine);
      app.http.post(
        '/typed',
        { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } } },
        async () => ({ ok: true }),
      );
      const res = await app.http.inject({ method: 'POST', url: '/typed', payload: { n: 'x' } });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid');
    });
  });
}
