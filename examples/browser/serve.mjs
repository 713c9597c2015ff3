#!/usr/bin/env node
// Builds and serves the browser demo on http://127.0.0.1 (a secure context, which WebGPU
// needs): open the printed address in Chrome, Edge or Firefox.
//
//   npm run example:browser                           # build difflib, bundle, serve on :8080
//   node examples/browser/serve.mjs --port 9000 --model out/digits/model.safetensors
//
// Flags: --port N (0: any free port)  --model FILE (a model.safetensors from examples/digits.mjs;
//        default examples/browser/assets/digits.safetensors, the committed one)
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
export const DEFAULT_MODEL = path.join(here, 'assets', 'digits.safetensors');

/**
 * Bundles demo.mjs (tfjs, its backends, difflib's dist/) with esbuild, which tsup brings in.
 * @returns {Promise<string>} the bundle's path.
 */
export async function bundleDemo() {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first');
  const outfile = path.join(root, 'node_modules', '.cache', 'difflib-demo', 'demo.js');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(here, 'demo.mjs')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    absWorkingDir: root,
    logLevel: 'warning',
  });
  return outfile;
}

/**
 * Serves the page (`/`), its script (`/demo.js`) and the digits model (`/digits.safetensors`).
 * @param {{ port?: number, model?: string }} [options]
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startDemoServer({ port = 0, model = DEFAULT_MODEL } = {}) {
  if (!existsSync(model)) throw new Error(`no model file at ${model}: train one with examples/digits.mjs and pass --model`);
  const bundle = await bundleDemo();
  const files = {
    '/': ['text/html; charset=utf-8', path.join(here, 'index.html')],
    '/index.html': ['text/html; charset=utf-8', path.join(here, 'index.html')],
    '/demo.js': ['text/javascript; charset=utf-8', bundle],
    '/digits.safetensors': ['application/octet-stream', model],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://localhost').pathname];
    if (file) res.writeHead(200, { 'content-type': file[0] }).end(readFileSync(file[1]));
    else res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: opts } = parseArgs({
    options: { port: { type: 'string', default: '8080' }, model: { type: 'string', default: DEFAULT_MODEL } },
  });
  const { url } = await startDemoServer({ port: Number(opts.port), model: path.resolve(opts.model) });
  console.log(`difflib browser demo: ${url}   (?autostart=1&backend=webgpu&steps=500 … see examples/browser/demo.mjs; Ctrl-C stops)`);
}
