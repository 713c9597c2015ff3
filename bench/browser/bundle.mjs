// Bundles the browser benchmark page (entry.mjs with tfjs, its GPU backends, difflib's
// dist/ and bench/measure.mjs) with esbuild, which tsup already brings in.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outfile = path.join(root, 'node_modules', '.cache', 'difflib-bench', 'page.js');

/**
 * Builds the page script (again each call: esbuild takes about a second).
 * @returns {Promise<string>} the bundle's path.
 */
export async function bundlePage() {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(root, 'bench', 'browser', 'entry.mjs')],
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
