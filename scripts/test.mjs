#!/usr/bin/env node
// `npm test`: runs the node project (cpu + wasm) and, when Chromium is available, the browser
// project (webgl), then prints one machine-readable summary line. Extra args go to vitest.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsFile = path.join(root, '.vitest-results', 'results.json');
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

const hasChromium = isExecutable(chromium);
const skipNote =
  `Browser (WebGL) suite SKIPPED: Chromium not found at ${chromium}. Install it with ` +
  '`apt-get install -y chromium` (Debian) or set CHROMIUM_PATH, then run npm test again.';

const extra = process.argv.slice(2);
// Without Chromium the browser project cannot even start, so restrict to node unless the
// caller picked projects explicitly.
const userPickedProject = extra.some((a) => a === '--project' || a.startsWith('--project='));
const projectArgs = hasChromium || userPickedProject ? [] : ['--project', 'node'];
if (!hasChromium) console.log(`\n${skipNote}\n`);

// A stale file from an earlier run must never be summarised as this run's result.
rmSync(resultsFile, { force: true });

// vitest's bin isn't in its "exports"; locate it via package.json (works however npm hoists).
const vitestPkg = createRequire(import.meta.url).resolve('vitest/package.json');
const vitestBin = path.join(path.dirname(vitestPkg), 'vitest.mjs');
const run = spawnSync(
  process.execPath,
  [
    vitestBin,
    'run',
    ...projectArgs,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${resultsFile}`,
    ...extra,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, CHROMIUM_PATH: chromium } },
);
const code = run.status ?? 1;

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(resultsFile)) {
  const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that fails to import/collect has no failed tests; count it so it can't hide.
  for (const file of r.testResults ?? []) {
    const anyTestFailed = file.assertionResults?.some((t) => t.status === 'failed');
    if (file.status === 'failed' && !anyTestFailed) failed += 1;
  }
} else {
  console.log(`vitest wrote no results (${path.relative(root, resultsFile)} missing).`);
}
if (code !== 0 && failed === 0) {
  console.log(`vitest exited with code ${code} although no test failed (see errors above).`);
}

if (!hasChromium) console.log(`\n${skipNote}`);
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(code);
