#!/usr/bin/env node
// Times conv2d and its two gradients on the tfjs wasm backend, before and after
// registerWasmTrainingKernels(): forward Conv2D, Conv2DBackpropInput (wasm's own kernel
// vs difflib's), and Conv2DBackpropFilter (which wasm lacks: difflib's only); then
// BatchMatMul (wasm's vs difflib's) on the products of a dense layer's gradients and of
// attention.
//
//   node bench/wasm-conv.mjs [--reps 10] [--json bench/results/wasm-conv.json]
//
// GFLOP/s counts 2·N·outH·outW·C·O·kh·kw per conv call (the useful multiply-adds), 2·B·M·K·N
// per product.
// src/ is TypeScript: the kernels are bundled first (bench/bundle-src.mjs).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { importSource } from './bundle-src.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { reps: { type: 'string', default: '10' }, json: { type: 'string' } },
});
const reps = Number(args.reps);


const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-wasm');
await tf.setBackend('wasm');
await tf.ready();
const { registerWasmTrainingKernels, unregisterWasmTrainingKernels } = await importSource('backends/wasm-training-kernels.ts');

function seeded(shape, seed) {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/**
 * Median milliseconds per call of each variant, each call read back to the host. The
 * variants take turns (one call each per round, after a warm-up round), so load from
 * other processes falls on all of them alike. `before` runs ahead of a variant's calls.
 */
function timeInterleaved(variants) {
  const times = variants.map(() => []);
  for (let round = -1; round < reps; round++) {
    variants.forEach((v, i) => {
      v.before?.();
      const t0 = performance.now();
      const out = v.run();
      out.dataSync();
      if (round >= 0) times[i].push(performance.now() - t0);
      out.dispose();
    });
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}

const CASES = [
  { name: '3x3 stride 1', x: [8, 32, 32, 64], k: 3, o: 64, s: 1 },
  { name: '3x3 stride 2', x: [8, 32, 32, 64], k: 3, o: 64, s: 2 },
  { name: '1x1 stride 1', x: [8, 32, 32, 64], k: 1, o: 64, s: 1 },
  { name: '3x3 stride 1, 16x16x128', x: [8, 16, 16, 128], k: 3, o: 128, s: 1 },
];

const rows = [];
for (const c of CASES) {
  const [n, h, w, ch] = c.x;
  const filterShape = [c.k, c.k, ch, c.o];
  const x = seeded(c.x, 1);
  const filter = seeded(filterShape, 2);
  const y = tf.conv2d(x, filter, c.s, 'same');
  const dy = seeded(y.shape, 3);
  const flop = 2 * n * y.shape[1] * y.shape[2] * ch * c.o * c.k * c.k;
  const attrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const backpropInput = () => tf.conv2dTranspose(dy, filter, c.x, c.s, 'same');
  const backpropFilter = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape });

  const [forwardMs, inputWasmMs, inputOursMs, filterOursMs] = timeInterleaved([
    { before: unregisterWasmTrainingKernels, run: () => tf.conv2d(x, filter, c.s, 'same') },
    { run: backpropInput },
    { before: registerWasmTrainingKernels, run: backpropInput },
    { run: backpropFilter },
  ]);
  unregisterWasmTrainingKernels();
  const wasmDx = backpropInput();
  registerWasmTrainingKernels();
  const oursDx = backpropInput();
  const maxDiff = tf.max(tf.abs(tf.sub(oursDx, wasmDx))).dataSync()[0];
  const scale = tf.max(tf.abs(wasmDx)).dataSync()[0];
  tf.dispose([x, filter, y, dy, wasmDx, oursDx]);

  const gflops = (ms) => +(flop / ms / 1e6).toFixed(2);
  rows.push({
    case: `${c.name} [${c.x}] * ${filterShape.join('x')}`,
    'forward ms': +forwardMs.toFixed(1),
    'forward GFLOP/s': gflops(forwardMs),
    'dx wasm ms': +inputWasmMs.toFixed(1),
    'dx wasm GFLOP/s': gflops(inputWasmMs),
    'dx difflib ms': +inputOursMs.toFixed(1),
    'dx difflib GFLOP/s': gflops(inputOursMs),
    'dx speedup': +(inputWasmMs / inputOursMs).toFixed(1),
    'dx max |diff| / max |dx|': +(maxDiff / scale).toExponential(1),
    'dW difflib ms': +filterOursMs.toFixed(1),
    'dW difflib GFLOP/s': gflops(filterOursMs),
  });
}

const MATMULS = [
  { name: 'untransposed a·b (wasm kernel either way)', a: [8192, 576], b: [576, 64], ta: false, tb: false },
  { name: 'dense dW = xᵀ·dy', a: [8192, 576], b: [8192, 64], ta: true, tb: false },
  { name: 'dense dx = dy·Wᵀ', a: [8192, 64], b: [576, 64], ta: false, tb: true },
  { name: 'attention q·kᵀ', a: [32, 256, 64], b: [32, 256, 64], ta: false, tb: true },
  { name: 'attention p·v', a: [32, 256, 256], b: [32, 256, 64], ta: false, tb: false },
  { name: 'attention dv = pᵀ·dy', a: [32, 256, 256], b: [32, 256, 64], ta: true, tb: false },
];
const matRows = [];
for (const c of MATMULS) {
  const a = seeded(c.a, 7);
  const b = seeded(c.b, 8);
  const product = () => tf.matMul(a, b, c.ta, c.tb);
  const [wasmMs, oursMs] = timeInterleaved([
    { before: unregisterWasmTrainingKernels, run: product },
    { before: registerWasmTrainingKernels, run: product },
  ]);
  unregisterWasmTrainingKernels();
  const wasmOut = product();
  registerWasmTrainingKernels();
  const oursOut = product();
  const [m, k] = c.ta ? c.a.slice(-2).reverse() : c.a.slice(-2);
  const n = c.tb ? c.b.at(-2) : c.b.at(-1);
  const batch = c.a.length > 2 ? c.a[0] : 1;
  const flop = 2 * batch * m * k * n;
  const maxDiff = tf.max(tf.abs(tf.sub(oursOut, wasmOut))).dataSync()[0];
  const scale = tf.max(tf.abs(wasmOut)).dataSync()[0];
  tf.dispose([a, b, wasmOut, oursOut]);
  matRows.push({
    product: `${c.name}: [${c.a}]${c.ta ? 'ᵀ' : ''} · [${c.b}]${c.tb ? 'ᵀ' : ''}`,
    'wasm ms': +wasmMs.toFixed(1),
    'wasm GFLOP/s': +(flop / wasmMs / 1e6).toFixed(2),
    'difflib ms': +oursMs.toFixed(1),
    'difflib GFLOP/s': +(flop / oursMs / 1e6).toFixed(2),
    speedup: +(wasmMs / oursMs).toFixed(1),
    'max |diff| / max |out|': +(maxDiff / scale).toExponential(1),
  });
}

// The kernels make fresh filters every call; XNNPACK caches an operator per filter, so
// check the wasm heap does not grow with repeated gradient calls.
{
  const x = seeded([8, 32, 32, 64], 4);
  const filter = seeded([3, 3, 64, 64], 5);
  const dy = seeded([8, 16, 16, 64], 6);
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [3, 3, 64, 64] };
  const q = seeded([32, 64, 64], 7);
  const step = () =>
    tf.tidy(() => [
      tf.conv2dTranspose(dy, filter, x.shape, 2, 'same'),
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs),
      tf.matMul(q, q, false, true),
    ]);
  tf.dispose(step());
  const heap = () => tf.backend().wasm.HEAPU8.length;
  const before = { heap: heap(), tensors: tf.memory().numTensors };
  for (let i = 0; i < 50; i++) tf.dispose(step());
  const after = { heap: heap(), tensors: tf.memory().numTensors };
  console.log(
    `50 more backprop/matMul calls: wasm heap ${before.heap / 2 ** 20} → ${after.heap / 2 ** 20} MiB, ` +
      `live tensors ${before.tensors} → ${after.tensors}`,
  );
  tf.dispose([x, filter, dy, q]);
}

console.log(
  `tfjs ${tf.version_core} wasm backend, Node ${process.version}, SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, ` +
    `threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}, median of ${reps} interleaved rounds`,
);
console.table(rows);
console.table(matRows);
if (args.json) {
  const file = path.resolve(root, args.json);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ node: process.version, reps, conv: rows, matMul: matRows }, null, 2)}\n`);
  console.log(`wrote ${path.relative(root, file)}`);
}
