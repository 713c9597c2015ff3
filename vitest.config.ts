import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));

const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export default defineConfig({
  // Golden references are in the repository (test/fixtures/reference): nothing outside it is served.
  server: { fs: { allow: [repoRoot] } },
  // Vite's dep optimizer would re-bundle tfjs mid-run on first browser load and reload the page.
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-layers',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-webgl',
      '@tensorflow/tfjs-backend-wasm',
    ],
  },
  test: {
    // tfjs-backend-cpu nags about tfjs-node once per file; we test the cpu backend on purpose.
    // (Only honoured at the root: per-project onConsoleLog is ignored.)
    onConsoleLog: (log) => !log.includes('running TensorFlow.js in Node.js'),
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/browser/**'],
          // tfjs cpu/wasm kernels are slow on CI-sized machines.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: chromiumPath,
                // No network here or in CI: stop every background fetch Chromium would try.
                // Playwright supplies its own throwaway --user-data-dir (passing one in args is rejected).
                args: [
                  '--no-sandbox',
                  '--disable-background-networking',
                  '--disable-component-update',
                  '--disable-sync',
                  '--no-first-run',
                  '--disable-dev-shm-usage',
                  // Always SwiftShader (CPU) GL, even on machines with a GPU, so WebGL numerics
                  // are the same everywhere; it gives WebGL2 with float32 render targets.
                  // Playwright also adds --enable-unsafe-swiftshader; repeated so it can't vanish.
                  '--use-angle=swiftshader',
                  '--enable-unsafe-swiftshader',
                ],
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
