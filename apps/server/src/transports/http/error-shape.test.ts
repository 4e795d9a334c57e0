import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';

/** Every error reply is `{error:{code,message}}` and nothing else, with a request id to quote. */
function expectErrorShape(res: { json(): unknown; headers: Record<string, unknown> }, code: string): void {
  expect(res.json()).toEqual({ error: { code, message: expect.any(String) } });
  expect(res.headers['x-request-id']).toMatch(/^[\w.-]+$/);
}

// Routing happens before any database is touched: one engine tells all.
describe('errors Fastify meets before routing have the one error shape', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp('sqlite');
  });
  afterAll(async () => {
    await app?.dispose();
  });

  it.each(['/api/v1/%', '/api/v1/vehicles/%zz', '/%'])(
    'GET %s (a URL that does not decode) is 400 bad_url',
    async (url) => {
      const res = await app.http.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(400);
      expectErrorShape(res, 'bad_url');
    },
  );
});
