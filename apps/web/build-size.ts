import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

/** The budget for the JavaScript a first visit downloads, gzipped, map tiles excluded. */
export const FIRST_LOAD_BUDGET_BYTES = 300 * 1024;

/**
 * Prints, after each build, the gzipped size of the JavaScript the browser loads before the first page
 * shows (the entry chunk and its static imports) and of each lazily loaded chunk, and warns over budget.
 */
export function printBundleSize(): Plugin {
  return {
    name: 'tacho-bundle-size',
    apply: 'build',
    generateBundle(_options, bundle) {
      const chunks = Object.values(bundle).filter((item) => item.type === 'chunk');
      const byName = new Map(chunks.map((chunk) => [chunk.fileName, chunk]));
      const first = new Set<string>();
      const visit = (fileName: string) => {
        if (first.has(fileName)) return;
        first.add(fileName);
        for (const imported of byName.get(fileName)?.imports ?? []) visit(imported);
      };
      for (const chunk of chunks) if (chunk.isEntry) visit(chunk.fileName);
      const gz = (code: string) => gzipSync(code, { level: 9 }).length;
      const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
      let firstTotal = 0;
      const lines: string[] = [];
      for (const chunk of chunks) {
        const size = gz(chunk.code);
        if (first.has(chunk.fileName)) firstTotal += size;
        lines.push(
          `  ${first.has(chunk.fileName) ? 'first' : 'lazy '}  ${kb(size).padStart(9)}  ${chunk.fileName}`,
        );
      }
      const over = firstTotal > FIRST_LOAD_BUDGET_BYTES;
      process.stdout.write(
        `\nJavaScript, gzipped:\n${lines.join('\n')}\n` +
          `First load: ${kb(firstTotal)} gzipped JavaScript (budget ${kb(FIRST_LOAD_BUDGET_BYTES)})${over ? ' — OVER BUDGET' : ''}\n\n`,
      );
      if (over)
        this.warn(
          `first-load JavaScript is ${kb(firstTotal)} gzipped, over the ${kb(FIRST_LOAD_BUDGET_BYTES)} budget`,
        );
    },
  };
}
