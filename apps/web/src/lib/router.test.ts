import { describe, expect, it } from 'vitest';
import { matchPath } from './router.js';

describe('router paths', () => {
  it('matches patterns with parameters and nothing else', () => {
    expect(matchPath('/vehicles/:id', '/vehicles/42')).toEqual({ id: '42' });
    expect(matchPath('/vehicles/:id/history', '/vehicles/a%20b/history')).toEqual({ id: 'a b' });
    expect(matchPath('/vehicles/:id', '/vehicles/42/history')).toBeNull();
    expect(matchPath('/vehicles', '/settings')).toBeNull();
    expect(matchPath('/vehicles/', '/vehicles')).toEqual({});
  });
});
