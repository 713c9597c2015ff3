#!/usr/bin/env node
// Builds dist/ (`npm run build`, tsup) only when it is stale, and prints one line saying which.
// `npm run demo`, `bench`, `bench:peer` and `example:*` run it first, so when nothing changed
// they start at once instead of rebuilding every time.
//
//   node scripts/ensure-built.mjs [--root DIR]
//
// Stale means: a build output is missing, or the newest file among the build's inputs (src/,
// package.json, tsup.config.ts, tsconfig.json) is newer than the oldest output. The outputs are
// the dist/ files package.json points at (main, module, types and every "exports" target).
// A failed build prints its output and exits with its exit code.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const INPUTS = ['src', 'package.json', 'tsup.config.ts', 'tsconfig.json'];

/** Every file under `file` (itself when it is a file) with its mtime; nothing when it does not exist. */
function filesWithMtimes(file) {
  if (!existsSync(file)) return [];
  const stat = statSync(file);
  if (!stat.isDirectory()) return [{ file, mtimeMs: stat.mtimeMs }];
  return readdirSync(file).flatMap((name) => filesWithMtimes(path.join(file, name)));
}

/** The dist/ files package.json at `root` points at (entries, exports and bins), relative to `root`. */
function buildOutputs(root) {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const targets = [];
  const collect = (value) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect([pkg.main, pkg.module, pkg.types, pkg.exports, pkg.bin]);
  return [...new Set(targets.map((t) => path.normalize(t)).filter((t) => t.startsWith(`dist${path.sep}`)))];
}

/** Why dist/ under `root` must be rebuilt, or null when every output is newer than every input. */
function staleReason(root) {
  const outputs = buildOutputs(root).map((file) => ({ file, stat: existsSync(path.join(root, file)) ? statSync(path.join(root, file)) : null }));
  const missing = outputs.find((o) => o.stat === null);
  if (missing) return `${missing.file} is missing`;
  const oldest = outputs.reduce((a, b) => (b.stat.mtimeMs < a.stat.mtimeMs ? b : a));
  const newest = INPUTS.flatMap((input) => filesWithMtimes(path.join(root, input))).reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a), { file: root, mtimeMs: -Infinity });
  if (newest.mtimeMs > oldest.stat.mtimeMs) return `${path.relative(root, newest.file)} is newer than ${oldest.file}`;
  return null;
}

const { values } = parseArgs({ options: { root: { type: 'string' } } });
const root = path.resolve(values.root ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const reason = staleReason(root);
if (reason === null) {
  console.log('ensure-built: dist/ is up to date, not rebuilt');
} else {
  const start = performance.now();
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) {
    process.stdout.write(build.stdout ?? '');
    process.stderr.write(build.stderr ?? '');
    console.error(`ensure-built: npm run build failed${build.error ? `: ${build.error.message}` : ''} (it was needed: ${reason})`);
    process.exit(build.status ?? 1);
  }
  console.log(`ensure-built: built dist/ in ${((performance.now() - start) / 1000).toFixed(1)} s (${reason})`);
}
