import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { precompress } from './build-compress.js';
import { printBundleSize } from './build-size.js';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  plugins: [react(), printBundleSize(), precompress()],
  resolve: {
    alias: {
      '@tacho/protocol': src('../../packages/protocol/src/index.ts'),
      '@tacho/client': src('../../packages/client/src/index.ts'),
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: {
    proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true }, '/health': 'http://127.0.0.1:8080' },
  },
});
