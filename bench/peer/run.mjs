#!/usr/bin/env node
// difflib's ADM U-Net (tfjs wasm) against the same network in PyTorch (bench/peer/adm_unet.py):
// same parameter count, same output on the same weights and input, then the forward pass
// (images/s), one DDIM step and one train step (forward + backward of MSE + AdamW) timed on
// each side.
//
//   npm run bench:peer -- [--config tiny|small|cifar] [--threads 2] [--both-threads]
//                         [--wasm-threads 2] [--wasm-gemm auto|relaxed-simd|simd128|off]
//                         [--warmup 2] [--repeats 5]
//                         [--json bench/results/peer-<config>.json]
//
// --threads: PyTorch's intra-op threads; --both-threads also runs PyTorch on 1 thread.
// --wasm-gemm: which build of difflib's own wasm kernels runs convs and products (off:
// tfjs-backend-wasm's XNNPACK ones). Both sides report their peak resident memory.
// --wasm-threads: difflib's (wasm's) threads, default the same as --threads; 1 is
// tfjs-backend-wasm's single-threaded build.
// Exits 1 when the parameter counts differ, the outputs differ by more than 1e-4 of the
// output scale, or adm_unet fails its reference cases (before timing anything), or when
// difflib's train step fails (after writing the rest).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportTorchStateDict, writeSafetensors } from 'difflib';
import { CONFIGS } from '../configs.mjs';
import { fixedBatch, randomUNet, timeDdimStep, timeForward, timeTrainStep, useWasm, wasmHeapBytes } from './difflib-side.mjs';
import { formatReport } from './report.mjs';
import { nchwBatch } from './nchw.mjs';
import { runOnnxPeers } from './onnx-side.mjs';
import { checkTorch, runReferenceCheck, runTorchBenchFastest } from './torch-side.mjs';

/** Largest accepted max |torch − difflib| / max |difflib output|. */
const TOLERANCE = 1e-4;
const SEED = 1234;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'small' },
    threads: { type: 'string', default: '2' },
    'wasm-threads': { type: 'string' },
    'both-threads': { type: 'boolean', default: false },
    'wasm-gemm': { type: 'string', default: 'auto' },
    warmup: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});

function count(name, min) {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${args[name]}`);
  return n;
}

function fail(message) {
  process.stderr.write(`bench:peer: ${message}\n`);
  process.exit(1);
}

const bench = CONFIGS[args.config] ?? fail(`--config must be one of ${Object.keys(CONFIGS).join(', ')}, got ${args.config}`);
const timing = { warmup: count('warmup', 0), repeats: count('repeats', 1) };
const threads = count('threads', 1);
const wasmThreads = args['wasm-threads'] === undefined ? threads : count('wasm-threads', 1);
if (wasmThreads > 8) fail(`--wasm-threads must be at most 8, got ${wasmThreads}`);
const wasmGemm = args['wasm-gemm'];
if (!['auto', 'relaxed-simd', 'simd128', 'off'].includes(wasmGemm)) fail(`--wasm-gemm must be auto, relaxed-simd, simd128 or off, got ${wasmGemm}`);
const threadCounts = args['both-threads'] && threads !== 1 ? [threads, 1] : [threads];
const jsonPath = path.resolve(root, args.json ?? `bench/results/peer-${args.config}.json`);

let torchVersion;
try {
  torchVersion = checkTorch();
} catch (e) {
  fail(e.message);
}
const machine = { nproc: os.availableParallelism(), loadavg: os.loadavg(), node: process.version, torch: torchVersion };
process.stderr.write(`bench:peer ${args.config} (${bench.description}), batch ${bench.batch}; ${machine.nproc} cores, load ${machine.loadavg.map((l) => l.toFixed(2)).join(' ')}\n`);

const reference = runReferenceCheck();
const backend = await useWasm(wasmThreads, wasmGemm);
const unet = randomUNet(bench.unet, SEED);
const batch = fixedBatch(bench.unet, bench.batch, bench.timesteps, SEED);

// Weights, input and difflib's output for torch_bench.py's check (NHWC, as difflib holds them).
const dir = mkdtempSync(path.join(os.tmpdir(), 'difflib-peer-'));
const files = { configJson: path.join(dir, 'unet.json'), weights: path.join(dir, 'weights.safetensors') };
const checkFiles = { checkInput: path.join(dir, 'input.safetensors'), checkOutput: path.join(dir, 'output.safetensors') };
const f32 = (t) => ({ dtype: 'F32', shape: t.shape, data: t.dataSync() });
writeFileSync(files.configJson, JSON.stringify(bench.unet));
writeFileSync(files.weights, exportTorchStateDict(unet));
writeFileSync(checkFiles.checkInput, writeSafetensors({ x: f32(batch.x), t: { dtype: 'I32', shape: batch.t.shape, data: batch.t.dataSync() } }));
const output = unet.forward(batch.x, batch.t);
writeFileSync(checkFiles.checkOutput, writeSafetensors({ output: f32(output) }));
output.dispose();

const torchRuns = [];
let onnxModel = null;
try {
  const onnxPath = path.join(dir, 'model.onnx');
  for (const [i, n] of threadCounts.entries()) {
    process.stderr.write(`PyTorch, ${n} thread${n === 1 ? '' : 's'}…\n`);
    // The output check and the ONNX export once, on the first run.
    torchRuns.push(runTorchBenchFastest({ ...files, ...(i === 0 ? { ...checkFiles, exportOnnx: onnxPath } : {}), ...timing, batch: bench.batch, threads: n }));
  }
  onnxModel = readFileSync(onnxPath);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const check = torchRuns[0].check;
const problems = [
  ...(unet.countParams() !== torchRuns[0].params ? [`parameter counts differ: difflib ${unet.countParams()}, PyTorch ${torchRuns[0].params}`] : []),
  ...(check.max_rel_error > TOLERANCE ? [`outputs differ by ${check.max_rel_error.toExponential(2)} of the output scale (tolerance ${TOLERANCE})`] : []),
  ...reference.filter((r) => !r.pass).map((r) => `adm_unet fails the reference case ${r.case}`),
];
if (problems.length > 0) fail(`not the same network: ${problems.join('; ')}`);

const onnxBatch = nchwBatch(unet, batch);

process.stderr.write(`difflib on ${backend}…\n`);
const difflib = { backend, params: unet.countParams(), forward_ms: await timeForward(unet, batch, timing) };
difflib.forward_images_per_s = (bench.batch * 1000) / difflib.forward_ms.median;
Object.assign(difflib, peakMemory('forward'));
difflib.ddim_step_ms = await timeDdimStep(unet, batch, timing);
try {
  difflib.train_step_ms = await timeTrainStep(unet, batch, timing);
  Object.assign(difflib, peakMemory('train'));
} catch (e) {
  // Kept in the report with the timings so far; a wasm heap that cannot grow fails as an out-of-bounds access.
  difflib.train_step_error = `${e.name}: ${e.message} (wasm heap ${(wasmHeapBytes() / 2 ** 30).toFixed(2)} GiB)`;
}

/** Peak resident memory of this process (MiB, as PyTorch's side reports it) and the wasm heap's size (it never shrinks, so it is the heap's peak). */
function peakMemory(after) {
  return { [`peak_rss_${after}_mb`]: process.resourceUsage().maxRSS / 1024, [`wasm_heap_${after}_mb`]: wasmHeapBytes() / 2 ** 20 };
}

// Last, so that ONNX Runtime's worker threads cannot slow difflib's timings; checked against
// difflib's output on the exported weights (taken before the train steps changed them).
const onnx = await runOnnxPeers(onnxModel, onnxBatch, timing, threads);

const result = { config: args.config, description: bench.description, batch: bench.batch, ...timing, machine, reference, check, difflib, torch: torchRuns, onnx };
console.log(formatReport(result));
mkdirSync(path.dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${jsonPath}`);
if (difflib.train_step_error) process.exit(1);
