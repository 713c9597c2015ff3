#!/usr/bin/env node
// Times conv2d and its gradients on the tfjs cpu backend (tfjs-backend-cpu, plain
// JavaScript): tfjs's own kernels against difflib's registerCpuTrainingKernels()
// replacements, for Conv2D, FusedConv2D (bias + relu), Conv2DBackpropInput and
// Conv2DBackpropFilter, on the tiny U-Net's shapes and larger ones.
//
//   node bench/cpu-conv.mjs [--reps 5] [--quick] [--json bench/results/cpu-conv.json]
//
// --quick leaves out the [8,32,32,64] cases (tfjs's Conv2DBackpropFilter takes ~2.5 min
// per call there). GFLOP/s counts 2·N·outH·outW·C·O·kh·kw per call (the useful
// multiply-adds). The two variants take turns, one call each per round after 3 warm-up
// calls each, and the median is reported; a tfjs call that takes over 5 s is timed once
// (its first warm-up call, the smaller cases having warmed the kernel up) rather than again.
// src/ is TypeScript: the kernels are bundled first (bench/bundle-src.mjs).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { importSource } from './bundle-src.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { reps: { type: 'string', default: '5' }, json: { type: 'string' }, quick: { type: 'boolean', default: false } },
});
const reps = Number(args.reps);
const SLOW_MS = 5000;
const WARMUP = 3;


const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-cpu');
await tf.setBackend('cpu');
await tf.ready();
const { registerCpuTrainingKernels, unregisterCpuTrainingKernels } = await importSource('backends/cpu-training-kernels.ts');

const seeded = (shape, seed) => tf.randomUniform(shape, -1, 1, 'float32', seed);

/** One call of `run` (under `before`), read back to the host; returns milliseconds. */
function timeCall(v) {
  v.before();
  const t0 = performance.now();
  const out = v.run();
  out.dataSync();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

/** Median ms per call of each variant, taking turns (so other load falls on both alike). */
function timeInterleaved(variants) {
  const times = variants.map((v) => {
    // Warm-up calls let V8 optimise the loops (the first calls of a kernel run slower).
    let warm = 0;
    for (let i = 0; i < WARMUP && warm <= SLOW_MS; i++) warm = timeCall(v);
    return warm > SLOW_MS ? { fixed: warm, samples: [] } : { samples: [] };
  });
  for (let round = 0; round < reps; round++) {
    variants.forEach((v, i) => {
      if (times[i].fixed === undefined) times[i].samples.push(timeCall(v));
    });
  }
  return times.map((t) => t.fixed ?? t.samples.sort((a, b) => a - b)[Math.floor(t.samples.length / 2)]);
}

const CASES = [
  { name: 'tiny U-Net 3x3', x: [4, 16, 16, 32], k: 3, o: 32, s: 1 },
  { name: 'tiny U-Net 3x3 stride 2', x: [4, 16, 16, 32], k: 3, o: 32, s: 2 },
  { name: 'tiny U-Net input conv', x: [4, 16, 16, 1], k: 3, o: 32, s: 1 },
  { name: 'tiny U-Net 3x3 at 8x8', x: [4, 8, 8, 64], k: 3, o: 64, s: 1 },
  { name: 'tiny U-Net output conv', x: [4, 16, 16, 32], k: 3, o: 2, s: 1 },
  { name: '3x3', x: [8, 32, 32, 64], k: 3, o: 64, s: 1, big: true },
  { name: '3x3 stride 2', x: [8, 32, 32, 64], k: 3, o: 64, s: 2, big: true },
  { name: '1x1', x: [8, 32, 32, 64], k: 1, o: 64, s: 1, big: true },
];

const rows = [];
for (const c of CASES) {
  if (args.quick && c.big) continue;
  const [n, , , ch] = c.x;
  const filterShape = [c.k, c.k, ch, c.o];
  const x = seeded(c.x, 1);
  const filter = seeded(filterShape, 2);
  const bias = seeded([c.o], 4);
  const y = tf.conv2d(x, filter, c.s, 'same');
  const dy = seeded(y.shape, 3);
  const flop = 2 * n * y.shape[1] * y.shape[2] * ch * c.o * c.k * c.k;
  const attrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const kernels = {
    Conv2D: () => tf.conv2d(x, filter, c.s, 'same'),
    'FusedConv2D (bias, relu)': () => tf.fused.conv2d({ x, filter, strides: c.s, pad: 'same', bias, activation: 'relu' }),
    Conv2DBackpropInput: () => tf.conv2dTranspose(dy, filter, c.x, c.s, 'same'),
    Conv2DBackpropFilter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape }),
  };
  for (const [kernel, run] of Object.entries(kernels)) {
    const [tfjsMs, oursMs] = timeInterleaved([
      { before: unregisterCpuTrainingKernels, run },
      { before: registerCpuTrainingKernels, run },
    ]);
    // Agreement, on the same inputs (the slow tfjs kernel once more only where it was fast).
    let relDiff = null;
    if (tfjsMs < SLOW_MS) {
      unregisterCpuTrainingKernels();
      const want = run();
      registerCpuTrainingKernels();
      const got = run();
      relDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] / tf.max(tf.abs(want)).dataSync()[0]);
      tf.dispose([want, got]);
    }
    const gflops = (ms) => +(flop / ms / 1e6).toFixed(3);
    rows.push({
      case: `${c.name} [${c.x}] * ${filterShape.join('x')}`,
      kernel,
      'tfjs ms': +tfjsMs.toFixed(1),
      'tfjs GFLOP/s': gflops(tfjsMs),
      'difflib ms': +oursMs.toFixed(2),
      'difflib GFLOP/s': gflops(oursMs),
      speedup: +(tfjsMs / oursMs).toFixed(1),
      'max |diff| / max |out|': relDiff === null ? null : +relDiff.toExponential(1),
    });
    console.log(`${rows.at(-1).case} ${kernel}: ${rows.at(-1)['tfjs ms']} → ${rows.at(-1)['difflib ms']} ms`);
  }
  tf.dispose([x, filter, bias, y, dy]);
}
registerCpuTrainingKernels();

console.log(`tfjs ${tf.version_core} cpu backend, Node ${process.version}, median of ${reps} interleaved rounds`);
console.table(rows);
if (args.json) {
  const file = path.resolve(root, args.json);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ node: process.version, reps, rows }, null, 2)}\n`);
  console.log(`wrote ${path.relative(root, file)}`);
}
