#!/usr/bin/env node
// `npm run bench`: U-Net forward, train step, DDIM sampling, diffusion overhead, scheduler steps, memory,
// readbacks and tensor growth, per backend. Prints a table and writes JSON under
// bench/results/.
//
//   npm run bench -- --backend wasm --config small
//   npm run bench -- --backend all --config tiny          # every backend that can start
//   npm run bench -- --backend webgl --config tiny        # in headless Chromium
//
// Flags: --backend cpu|wasm|webgl|webgpu|tensorflow|all (comma-separated list allowed)
//        --runtime node|browser   where webgpu runs (default node, through the `webgpu`
//                                 package; browser: Chromium). webgl always runs in Chromium.
//        --config tiny|small|cifar  --warmup N  --repeats N  --ddim-steps N  --leak-steps N
//        --scheduler-steps N  inference steps of each scheduler-step timing (0 skips)
//        --wasm-threads N   wasm's thread count (default: the cores, at most 8; 1 = tfjs's
//                           single-threaded build, >1 = its threaded build via difflib/node)
//        --wasm-gemm auto|relaxed-simd|simd128|off   which build of difflib's own wasm kernels
//                           runs convs and products (default auto: relaxed SIMD, turned on in
//                           Node; off: tfjs-backend-wasm's XNNPACK kernels)
//        --profile (per-kernel train-step times)  --out DIR (default bench/results)
//        --strict   exit 1 when any backend asked for is skipped (CI's smoke run)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIGS } from './configs.mjs';
import { formatTable } from './table.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALL = ['cpu', 'wasm', 'tensorflow', 'webgpu', 'webgl'];
const { values: opts } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    runtime: { type: 'string', default: 'node' },
    config: { type: 'string', default: 'tiny' },
    warmup: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '5' },
    'ddim-steps': { type: 'string', default: '50' },
    'scheduler-steps': { type: 'string', default: '20' },
    'leak-steps': { type: 'string', default: '100' },
    'wasm-threads': { type: 'string', default: String(Math.min(8, os.availableParallelism())) },
    'wasm-gemm': { type: 'string', default: 'auto' },
    profile: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(root, 'bench', 'results') },
  },
});
const fail = (message) => {
  console.error(`bench: ${message}`);
  process.exit(2);
};
const config = CONFIGS[opts.config] ?? fail(`--config must be one of ${Object.keys(CONFIGS).join(', ')}, got "${opts.config}"`);
const backends = opts.backend === 'all' ? ALL : opts.backend.split(',');
for (const b of backends) if (!ALL.includes(b)) fail(`--backend must be one of ${ALL.join(', ')} or all, got "${b}"`);
if (!['node', 'browser'].includes(opts.runtime)) fail(`--runtime must be node or browser, got "${opts.runtime}"`);
const count = (name, min) => {
  const v = Number(opts[name]);
  return Number.isInteger(v) && v >= min ? v : fail(`--${name} must be an integer >= ${min}, got "${opts[name]}"`);
};
const options = {
  warmup: count('warmup', 0),
  repeats: count('repeats', 1),
  ddimSteps: count('ddim-steps', 0),
  schedulerSteps: count('scheduler-steps', 0),
  leakSteps: count('leak-steps', 0),
  profile: opts.profile,
};
const wasmThreads = count('wasm-threads', 1);
const wasmGemm = opts['wasm-gemm'];
if (!['auto', 'relaxed-simd', 'simd128', 'off'].includes(wasmGemm)) fail(`--wasm-gemm must be auto, relaxed-simd, simd128 or off, got ${wasmGemm}`);
if (wasmThreads > 8) fail(`--wasm-threads must be at most 8, got ${wasmThreads}`);

const version = (pkg) => JSON.parse(readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.platform()} ${os.release()}`,
  node: process.version,
  tfjs: version('@tensorflow/tfjs-core'),
  difflib: JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version,
};
console.log(`bench: config ${opts.config} (${config.description}), batch ${config.batch}; ${machine.cpu} ×${machine.cores}, Node ${machine.node}, tfjs ${machine.tfjs}`);

const runs = [];
for (const backend of backends) {
  const runtime = backend === 'webgl' ? 'browser' : backend === 'webgpu' ? opts.runtime : 'node';
  const log = (line) => console.log(`  [${backend}/${runtime}] ${line}`);
  const started = Date.now();
  let run;
  try {
    const { backendInfo, result } =
      runtime === 'browser'
        ? await (await import('./browser/measure-in-browser.mjs')).measureInBrowser({ backend, configName: opts.config, options, log })
        : await measureInNode(backend, log);
    run = { backend, runtime, backendInfo, result };
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } catch (e) {
    run = { backend, runtime, skipped: e.message };
    log(`skipped: ${e.message}`);
  }
  runs.push(run);
  if (run.result) {
    mkdirSync(opts.out, { recursive: true });
    const file = path.join(opts.out, `${backend}-${runtime}-${opts.config}.json`);
    writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, config: { name: opts.config, ...config }, options, ...run }, null, 2) + '\n');
    log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
console.log('\n' + formatTable(opts.config, runs));
if (opts.profile) {
  for (const run of runs.filter((r) => r.result?.trainStepKernels)) {
    console.log(`\n${run.backend}/${run.runtime}: train step by kernel (top 15)`);
    for (const k of run.result.trainStepKernels.slice(0, 15)) {
      console.log(`  ${k.kernel.padEnd(28)} ${k.ms.toFixed(1).padStart(9)} ms  ${String(k.calls).padStart(5)} calls  ${(100 * k.share).toFixed(1).padStart(5)}%`);
    }
  }
}
if (!runs.some((r) => r.result) || (opts.strict && runs.some((r) => r.skipped))) process.exit(1);

/** Starts `backend` in this process and measures on it. */
async function measureInNode(backend, log) {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-layers');
  const difflib = await import('difflib');
  const { NODE_BACKENDS } = await import('./node-backends.mjs');
  const start = NODE_BACKENDS[backend];
  if (!start) throw new Error(`${backend} has no Node runtime here; try --runtime browser`);
  const backendInfo = await start(tf, difflib, { wasmThreads, wasmGemm });
  log(backendInfo);
  const { measure } = await import('./measure.mjs');
  return { backendInfo, result: await measure({ tf, difflib, config, ...options, log }) };
}
