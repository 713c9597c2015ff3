#!/usr/bin/env node
// Builds and serves the browser demo on http://127.0.0.1 (a secure context, which WebGPU
// needs): open the printed address in Chrome, Edge or Firefox. Every response carries the
// COOP/COEP headers that make the page cross-origin isolated, so it has SharedArrayBuffer and
// tfjs-backend-wasm runs its threaded SIMD build.
//
//   npm run example:browser                           # build difflib, bundle, serve on :8080
//   node examples/browser/serve.mjs --port 9000 --model out/digits/model.safetensors
//
// Flags: --port N (0: any free port)  --model FILE (a model.safetensors from examples/digits.mjs;
//        default examples/browser/assets/digits.safetensors, the committed one)
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleForBrowser, serveRoutes } from '../../scripts/browser-page.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
export const DEFAULT_MODEL = path.join(here, 'assets', 'digits.safetensors');

/**
 * Cross-origin isolation (`self.crossOriginIsolated`), without which browsers withhold
 * SharedArrayBuffer and tfjs-backend-wasm falls back from its threaded build to one thread:
 * the page opens no cross-origin windows (COOP) and embeds only resources that allow it (COEP;
 * everything here is same-origin and says so with CORP).
 */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

/** tfjs-backend-wasm's three builds (plain, SIMD, threaded SIMD); it fetches the one the browser can run. */
export const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/**
 * Bundles demo.mjs and serves, with {@link ISOLATION_HEADERS}, the page (`/`), its script
 * (`/demo.js`), the digits model (`/digits.safetensors`) and tfjs-backend-wasm's builds
 * (`/wasm/<name>.wasm`, the installed package's, so they match the bundled JavaScript).
 * @param {{ port?: number, model?: string }} [options]
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startDemoServer({ port = 0, model = DEFAULT_MODEL } = {}) {
  if (!existsSync(model)) throw new Error(`no model file at ${model}: train one with examples/digits.mjs and pass --model`);
  const bundle = await bundleForBrowser(path.join(here, 'demo.mjs'), path.join(root, 'node_modules', '.cache', 'difflib-demo', 'demo.js'));
  const page = { type: 'text/html; charset=utf-8', file: path.join(here, 'index.html') };
  const require = createRequire(import.meta.url);
  const wasm = Object.fromEntries(
    WASM_FILES.map((name) => [`/wasm/${name}`, { type: 'application/wasm', file: require.resolve(`@tensorflow/tfjs-backend-wasm/dist/${name}`) }]),
  );
  return serveRoutes(
    {
      '/': page,
      '/index.html': page,
      '/demo.js': { type: 'text/javascript; charset=utf-8', file: bundle },
      '/digits.safetensors': { type: 'application/octet-stream', file: model },
      ...wasm,
    },
    port,
    ISOLATION_HEADERS,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: opts } = parseArgs({
    options: { port: { type: 'string', default: '8080' }, model: { type: 'string', default: DEFAULT_MODEL } },
  });
  const { url } = await startDemoServer({ port: Number(opts.port), model: path.resolve(opts.model) });
  console.log(`difflib browser demo: ${url}   (?autostart=1&backend=wasm&steps=500 … see examples/browser/demo.mjs; Ctrl-C stops)`);
}
