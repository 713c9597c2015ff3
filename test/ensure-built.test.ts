// scripts/ensure-built.mjs rebuilds dist/ only when it is stale. Checked on a throwaway package
// whose `build` script writes the outputs and counts its runs; every mtime is set explicitly.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'ensure-built.mjs');

const OUTPUTS = ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.cts'];
const BUILD = `const fs = require('node:fs');
fs.appendFileSync('builds.log', 'built\\n');
if (fs.existsSync('fail')) { console.error('tsup: error in src/a.ts'); process.exit(3); }
fs.mkdirSync('dist', { recursive: true });
for (const f of ${JSON.stringify(OUTPUTS)}) fs.writeFileSync(f, '');
`;

let root: string;
const now = Date.now() / 1000;
const T_INPUTS = now - 1000; // seconds
const T_OUTPUTS = now - 500;
const T_LATER = now - 100;

const file = (name: string) => path.join(root, name);
const touch = (name: string, seconds: number) => utimesSync(file(name), seconds, seconds);
const builds = () => (existsSync(file('builds.log')) ? readFileSync(file('builds.log'), 'utf8').split('\n').filter(Boolean).length : 0);

async function ensureBuilt(): Promise<string> {
  const { stdout } = await run(process.execPath, [script, '--root', root], { timeout: 30_000 });
  return stdout.trim();
}

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'difflib-ensure-built-'));
  writeFileSync(file('package.json'), JSON.stringify({
    name: 'fake', type: 'commonjs', main: './dist/index.cjs', module: './dist/index.js', types: './dist/index.d.ts',
    exports: { '.': { import: './dist/index.js', require: './dist/index.cjs' }, './node': { import: { types: './dist/node.d.cts', default: './dist/node.js' } }, './package.json': './package.json' },
    scripts: { build: 'node build.cjs' },
  }));
  writeFileSync(file('build.cjs'), BUILD);
  mkdirSync(file('src/deep'), { recursive: true });
  for (const f of ['src/a.ts', 'src/deep/b.ts', 'tsup.config.ts', 'tsconfig.json', 'README.md']) writeFileSync(file(f), '');
  for (const f of ['src/a.ts', 'src/deep/b.ts', 'tsup.config.ts', 'tsconfig.json', 'package.json', 'README.md']) touch(f, T_INPUTS);
  // A first build, then outputs dated after every input: fresh.
  expect(await ensureBuilt()).toMatch(/^ensure-built: built dist\/ in [\d.]+ s \(dist\/index\.cjs is missing\)$/);
  for (const f of OUTPUTS) touch(f, T_OUTPUTS);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('scripts/ensure-built.mjs', () => {
  it('does not rebuild a fresh dist/, even when files that are not inputs are newer', async () => {
    touch('README.md', T_LATER);
    touch('build.cjs', T_LATER);
    expect(await ensureBuilt()).toBe('ensure-built: dist/ is up to date, not rebuilt');
    expect(builds()).toBe(1);
  });

  it.each(['src/deep/b.ts', 'package.json', 'tsup.config.ts', 'tsconfig.json'])('rebuilds when %s is newer than the oldest output, then not again', async (input) => {
    touch(input, T_LATER);
    expect(await ensureBuilt()).toMatch(new RegExp(`^ensure-built: built dist/ in [\\d.]+ s \\(${input.replace('.', '\\.')} is newer than dist/`));
    expect(builds()).toBe(2);
    expect(await ensureBuilt()).toBe('ensure-built: dist/ is up to date, not rebuilt'); // the build wrote outputs dated now
    expect(builds()).toBe(2);
  });

  it('compares against the oldest output, and rebuilds when any output package.json points at is missing', async () => {
    touch('src/a.ts', T_LATER);
    for (const f of OUTPUTS.slice(1)) touch(f, now); // only dist/index.js is older than the source
    expect(await ensureBuilt()).toMatch(/\(src\/a\.ts is newer than dist\/index\.js\)$/);
    rmSync(file('dist/node.d.cts')); // reached only through a nested "exports" condition
    expect(await ensureBuilt()).toMatch(/\(dist\/node\.d\.cts is missing\)$/);
    expect(builds()).toBe(3);
  });

  it('exits with the build’s exit code and shows its output when the build fails', async () => {
    touch('src/a.ts', T_LATER);
    writeFileSync(file('fail'), '');
    const failure = await run(process.execPath, [script, '--root', root]).then(() => null, (e: unknown) => e);
    expect(failure).toMatchObject({ code: 3, stderr: expect.stringContaining('tsup: error in src/a.ts') });
    expect(failure).toMatchObject({ stderr: expect.stringContaining('ensure-built: npm run build failed (it was needed: src/a.ts is newer than dist/') });
    expect(builds()).toBe(2);
  });
});
