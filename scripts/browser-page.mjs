// Building and serving a page that runs difflib in a browser: used by the browser benchmark
// (bench/browser) and the browser demo (examples/browser).
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Bundles `entry` (tfjs, its backends, difflib's dist/) for Chromium with esbuild, which
 * tsup brings in; again each call (about a second).
 * @param {string} entry - the page script.
 * @param {string} outfile - where the bundle goes.
 * @returns {Promise<string>} outfile.
 */
export async function bundleForBrowser(entry, outfile) {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [entry],
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
 * Serves `routes` on 127.0.0.1, a secure context (which WebGPU requires; about:blank and
 * file:// pages may not expose navigator.gpu). Each route is a content type and either a
 * file, read on each request, or a fixed body. `/favicon.ico` is empty, so pages log no 404.
 * @param {Record<string, { type: string, file?: string, body?: string }>} routes - by URL path.
 * @param {number} [port] - 0: any free port.
 * @param {Record<string, string>} [headers] - sent with every route besides its content type.
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function serveRoutes(routes, port = 0, headers = {}) {
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url, 'http://localhost').pathname];
    if (route) res.writeHead(200, { ...headers, 'content-type': route.type }).end(route.file ? readFileSync(route.file) : route.body);
    else res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
