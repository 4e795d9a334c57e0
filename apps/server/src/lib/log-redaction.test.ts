import { describe, expect, it } from 'vitest';
import { loggableText, loggableUrl } from './log-redaction.js';
import { createLogger } from './logger.js';

const TOKEN = `tacho_${'A1b2C3d4E5'.repeat(4)}xyz`;

describe('log redaction', () => {
  it('keeps query parameter names and only the values known to be harmless', () => {
    expect(
      loggableUrl(`/api/v1/ingest/osmand?id=123456789012&lat=52.5&lon=13.4&timestamp=1&token=${TOKEN}`),
    ).toBe(
      '/api/v1/ingest/osmand?id=[redacted]&lat=[redacted]&lon=[redacted]&timestamp=[redacted]&token=[redacted]',
    );
    expect(
      loggableUrl('/api/v1/vehicles/v1/samples?from=1&to=2&limit=100&access_token=abc&code=x&state=y'),
    ).toBe(
      '/api/v1/vehicles/v1/samples?from=1&to=2&limit=100&access_token=[redacted]&code=[redacted]&state=[redacted]',
    );
    // A bare value, or a name that is no name, may be the secret itself.
    expect(loggableUrl(`/api/v1/ingest/overland?${TOKEN}`)).toBe('/api/v1/ingest/overland?[redacted]');
    expect(loggableUrl('/health')).toBe('/health');
  });

  it('blanks route parameters that name a secret, and Tacho tokens anywhere in the URL', () => {
    expect(loggableUrl('/api/v1/auth/setup/s3cr3t-setup-token', '/api/v1/auth/setup/:token')).toBe(
      '/api/v1/auth/setup/[redacted]',
    );
    expect(loggableUrl('/api/v1/vehicles/v1/state', '/api/v1/vehicles/:id/state')).toBe(
      '/api/v1/vehicles/v1/state',
    );
    expect(loggableUrl(`/api/v1/x/${TOKEN}`)).toBe('/api/v1/x/tacho_[redacted]');
  });

  it('blanks URLs, credential pairs and Tacho tokens quoted in error text', () => {
    expect(loggableText(`'/api/v1/ingest/osmand?id=1&token=${TOKEN}%zz' is not a valid url component`)).toBe(
      "'/api/v1/ingest/osmand?id=[redacted]&token=[redacted]' is not a valid url component",
    );
    expect(loggableText('login failed: password=hunter2 host=db')).toBe(
      'login failed: password=[redacted] host=db',
    );
    expect(loggableText(`bearer ${TOKEN} refused`)).toBe('bearer tacho_[redacted] refused');
  });

  it("writes errors through the redaction: an error quoting a token's URL logs no token", () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) });
    const error = new Error(`'/api/v1/ingest/osmand?token=${TOKEN}' is not a valid url component`);
    logger.error({ err: error }, 'bad url');
    logger.warn({ err: `fetch /x?token=${TOKEN} failed` }, 'string error');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toContain(TOKEN);
    expect(JSON.parse(lines[0]!).err.message).toBe(
      "'/api/v1/ingest/osmand?token=[redacted]' is not a valid url component",
    );
  });
});
