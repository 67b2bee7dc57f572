import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard: src/web (TypeScript, no framework) bundled once at build time into dist/web,
// which the service serves at /ui (src/server/routes/ui.ts). Nothing is built at run time.
const root = fileURLToPath(new URL('./src/web', import.meta.url));

export default defineConfig({
  root,
  base: '/ui/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The core's WASM kernels are embedded as base64 in the JS; one bundle keeps the page to three files.
    chunkSizeWarningLimit: 1024,
    sourcemap: false,
  },
});
