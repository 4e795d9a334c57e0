import { describe, expect, it } from 'vitest';
import { matchPath, safeNext } from './router.js';

describe('router paths', () => {
  it('matches patterns with parameters and nothing else', () => {
    expect(matchPath('/vehicles/:id', '/vehicles/42')).toEqual({ id: '42' });
    expect(matchPath('/vehicles/:id/history', '/vehicles/a%20b/history')).toEqual({ id: 'a b' });
    expect(matchPath('/vehicles/:id', '/vehicles/42/history')).toBeNull();
    expect(matchPath('/vehicles', '/settings')).toBeNull();
    expect(matchPath('/vehicles/', '/vehicles')).toEqual({});
  });

  it('returns after login only to a page of this site', () => {
    expect(safeNext('/vehicles/42/history?range=week')).toBe('/vehicles/42/history?range=week');
    for (const hostile of [
      '//evil.example/x',
      '/\\evil.example',
      'https://evil.example',
      'javascript:alert(1)',
      null,
    ]) {
      expect(safeNext(hostile)).toBe('/vehicles');
    }
  });
});
