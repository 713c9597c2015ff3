// A one-page HTTP server on 127.0.0.1 for the browser benchmark. An http://127.0.0.1
// origin is a secure context, which WebGPU requires (about:blank or file:// pages may not
// expose navigator.gpu).
import { readFileSync } from 'node:fs';
import http from 'node:http';

const PAGE = '<!doctype html><meta charset="utf-8"><title>difflib bench</title><script type="module" src="/page.js"></script>';

/**
 * Serves `/` (a page that loads the bundle) and `/page.js` (the bundle) on a free port;
 * `/favicon.ico` is empty, so the page logs no 404.
 * @param {string} bundlePath - the script bundlePage() built.
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function servePage(bundlePath) {
  const server = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(readFileSync(bundlePath));
    } else {
      res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
    }
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
