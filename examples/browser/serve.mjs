#!/usr/bin/env node
// Builds and serves the browser demo on http://127.0.0.1 (a secure context, which WebGPU
// needs): open the printed address in Chrome, Edge or Firefox.
//
//   npm run example:browser                           # build difflib, bundle, serve on :8080
//   node examples/browser/serve.mjs --port 9000 --model out/digits/model.safetensors
//
// Flags: --port N (0: any free port)  --model FILE (a model.safetensors from examples/digits.mjs;
//        default examples/browser/assets/digits.safetensors, the committed one)
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleForBrowser, serveRoutes } from '../../scripts/browser-page.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
export const DEFAULT_MODEL = path.join(here, 'assets', 'digits.safetensors');

/**
 * Bundles demo.mjs and serves the page (`/`), its script (`/demo.js`) and the digits model
 * (`/digits.safetensors`).
 * @param {{ port?: number, model?: string }} [options]
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startDemoServer({ port = 0, model = DEFAULT_MODEL } = {}) {
  if (!existsSync(model)) throw new Error(`no model file at ${model}: train one with examples/digits.mjs and pass --model`);
  const bundle = await bundleForBrowser(path.join(here, 'demo.mjs'), path.join(root, 'node_modules', '.cache', 'difflib-demo', 'demo.js'));
  const page = { type: 'text/html; charset=utf-8', file: path.join(here, 'index.html') };
  return serveRoutes(
    {
      '/': page,
      '/index.html': page,
      '/demo.js': { type: 'text/javascript; charset=utf-8', file: bundle },
      '/digits.safetensors': { type: 'application/octet-stream', file: model },
    },
    port,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: opts } = parseArgs({
    options: { port: { type: 'string', default: '8080' }, model: { type: 'string', default: DEFAULT_MODEL } },
  });
  const { url } = await startDemoServer({ port: Number(opts.port), model: path.resolve(opts.model) });
  console.log(`difflib browser demo: ${url}   (?autostart=1&backend=webgpu&steps=500 … see examples/browser/demo.mjs; Ctrl-C stops)`);
}
