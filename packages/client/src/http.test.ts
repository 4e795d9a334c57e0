import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { HttpTransport } from './http.js';

/** A fetch that answers from a list and records what was asked. */
function scripted(replies: Array<{ status: number; body: unknown }>) {
  const asked: string[] = [];
  const fetch = (async (input: RequestInfo | URL) => {
    asked.push(String(input));
    const next = replies.shift() ?? { status: 500, body: {} };
    return new Response(JSON.stringify(next.body), {
      status: next.status,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof globalThis.fetch;
  return { fetch, asked };
}

describe('HttpTransport and 401s', () => {
  it("does not refresh nor end the login on a maker's refusal (a vinfast_ code)", async () => {
    const { fetch, asked } = scripted([
      {
        status: 401,
        body: {
          error: { code: 'vinfast_sign_in_refused', message: 'VinFast refused this email and password' },
        },
      },
    ]);
    let lost = 0;
    const http = new HttpTransport({ baseUrl: 'http://tacho.test', fetch, onSessionLost: () => lost++ });
    const failure = await http
      .request('POST', 'connectors/vinfast/accounts', { body: {} })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ status: 401, code: 'vinfast_sign_in_refused' });
    expect(asked).toEqual(['http://tacho.test/api/v1/connectors/vinfast/accounts']);
    expect(lost).toBe(0);
  });

  it('still refreshes the login on any other 401', async () => {
    const { fetch, asked } = scripted([
      { status: 401, body: { error: { code: 'unauthorized', message: 'authentication required' } } },
      { status: 401, body: { error: { code: 'unauthorized', message: 'authentication required' } } },
    ]);
    let lost = 0;
    const http = new HttpTransport({ baseUrl: 'http://tacho.test', fetch, onSessionLost: () => lost++ });
    await http.request('GET', 'connectors/vinfast/accounts').catch(() => {});
    expect(asked).toEqual([
      'http://tacho.test/api/v1/connectors/vinfast/accounts',
      'http://tacho.test/api/v1/auth/refresh',
    ]);
    expect(lost).toBe(1);
  });
});
