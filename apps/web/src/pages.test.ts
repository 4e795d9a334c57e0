import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pagesDir = fileURLToPath(new URL('./pages', import.meta.url));

describe('web layout', () => {
  it('pages do not import other pages: shared parts live in components/ or lib/', () => {
    const offending: string[] = [];
    for (const file of readdirSync(pagesDir)) {
      if (!file.endsWith('.tsx') && !file.endsWith('.ts')) continue;
      const text = readFileSync(`${pagesDir}/${file}`, 'utf8');
      for (const match of text.matchAll(/from '(\.\/[^']+)'/g)) offending.push(`${file} -> ${match[1]}`);
    }
    expect(offending).toEqual([]);
  });
});
