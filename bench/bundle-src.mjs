// src/ is TypeScript: bench scripts that time internal kernels bundle the module they need
// with esbuild (tsup's) into node_modules/.cache/difflib-bench, where `@tensorflow/*`
// still resolves to this repo's copy (kept external, so the bench and the bundle share tfjs).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @param {string} source - a file under src/, e.g. 'backends/cpu-training-kernels.ts'.
 * @returns {Promise<object>} the bundled module's exports.
 */
export async function importSource(source) {
  const { build } = await import('esbuild');
  const outfile = path.join(root, 'node_modules', '.cache', 'difflib-bench', path.basename(source).replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [path.join(root, 'src', source)],
    bundle: true,
    format: 'esm',
    platform: 'node',
    external: ['@tensorflow/*'],
    outfile,
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}
