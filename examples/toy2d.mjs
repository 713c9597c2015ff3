#!/usr/bin/env node
// Train a small diffusion model on a 2-D toy distribution (8 Gaussians on a circle)
// and draw samples from it, on TensorFlow.js in Node.js — no GPU, no tfjs-node.
//
//   npm run demo                              # build difflib, then run this with defaults
//   node examples/toy2d.mjs --steps 1000 --samples 500 --out /tmp/toy2d
//
// Flags: --steps N (training steps)  --batch N (training batch)  --samples N (samples drawn)
//        --timesteps T (diffusion steps)  --lr X  --width N (MLP width)  --seed N
//        --backend wasm|cpu  --out DIR (where PNGs go; default out/)  --log-every N
//        --no-respaced (skip the 50%-length sampler)
//
// The model is an MLP (tfjs-layers) fed x_t and a sinusoidal embedding of t. It predicts
// ε and the learned-range variance interpolation v, trained with Improved DDPM's hybrid
// loss L_simple + λ·L_vlb (modelVarType 'learned_range', lossType 'rescaled_mse').
// The last stdout line is `RESULT {json}` with the numbers, for scripts and tests.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers the gradients of tfjs-core ops
import { PNG } from 'pngjs';
import {
  eightGaussians,
  GaussianDiffusion,
  namedBetaSchedule,
  registerWasmTrainingKernels,
  timestepEmbedding,
  UniformSampler,
} from 'difflib';

// ---------------------------------------------------------------- options
const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '256' },
    samples: { type: 'string', default: '2000' },
    timesteps: { type: 'string', default: '100' },
    lr: { type: 'string', default: '1e-2' },
    width: { type: 'string', default: '128' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'wasm' },
    out: { type: 'string', default: 'out' },
    'log-every': { type: 'string', default: '' },
    'no-respaced': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: node examples/toy2d.mjs [--steps N] [--batch N] [--samples N] [--timesteps T] [--lr X]');
  console.log('       [--width N] [--seed N] [--backend wasm|cpu] [--out DIR] [--log-every N] [--no-respaced]');
  console.log('       (defaults: 3000 steps, batch 256, 2000 samples, T=100, lr 1e-2, width 128)');
  process.exit(0);
}
const int = (name, min = 1) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${opts[name]}`);
  return v;
};
const STEPS = int('steps', 0);
const BATCH = int('batch');
const SAMPLES = int('samples');
const T = int('timesteps', 2);
const WIDTH = int('width');
const SEED = int('seed', 0);
const LR = Number(opts.lr);
const LOG_EVERY = opts['log-every'] ? int('log-every') : Math.max(1, Math.round(STEPS / 15));
const OUT_DIR = opts.out;
if (!(LR > 0)) throw new Error(`--lr must be a positive number, got ${opts.lr}`);
if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, got ${opts.backend}`);

// ---------------------------------------------------------------- backend
// Both are pure JS/WebAssembly and run anywhere Node does. wasm is much faster on the
// small matmuls of this model; `npm i @tensorflow/tfjs-node` and import it instead for
// native TensorFlow.
if (opts.backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
else await import('@tensorflow/tfjs-backend-cpu');
if (!(await tf.setBackend(opts.backend))) throw new Error(`backend ${opts.backend} failed to start`);
await tf.ready();
// Faster matMul gradients on wasm (its transposed products are ~10x slower than plain
// ones); difflib registers kernels built on wasm's fast paths. A no-op on cpu.
if (opts.backend === 'wasm') registerWasmTrainingKernels();

// ---------------------------------------------------------------- data
// difflib's eightGaussians: 8 modes of std 0.05 on a circle of radius 0.8, so the data
// lies in about [-0.95, 0.95]². Each training step draws a fresh seeded batch.
const MODES = 8;
const RADIUS = 0.8;
const MODE_STD = 0.05;
const CENTERS = Array.from({ length: MODES }, (_, k) => [
  RADIUS * Math.cos((2 * Math.PI * k) / MODES),
  RADIUS * Math.sin((2 * Math.PI * k) / MODES),
]);
const sampleData = (n, seed) => eightGaussians(n, { seed, std: MODE_STD, radius: RADIUS }).data;

// ---------------------------------------------------------------- model
// ε-prediction MLP: [x_t, emb(t)] -> 3 × (dense + swish) -> 4 outputs (ε_x, ε_y, v_x, v_y).
const EMB_DIM = 32;
const init = (k) => tfl.initializers.glorotUniform({ seed: SEED * 100 + k });
const xIn = tfl.input({ shape: [2] });
const embIn = tfl.input({ shape: [EMB_DIM] });
const temb = tfl.layers.dense({ units: WIDTH, activation: 'swish', kernelInitializer: init(0) }).apply(embIn);
let h = tfl.layers.concatenate().apply([xIn, temb]);
for (let k = 1; k <= 3; k++) {
  h = tfl.layers.dense({ units: WIDTH, activation: 'swish', kernelInitializer: init(k) }).apply(h);
}
const outLayer = tfl.layers.dense({ units: 4, kernelInitializer: 'zeros' }).apply(h);
const net = tfl.model({ inputs: [xIn, embIn], outputs: outLayer });

// The sinusoidal embedding of t (periods up to T rather than the default 10000, which
// suits T = 1000+) only depends on t: compute it once for all T steps and look it up.
const embTable = timestepEmbedding(tf.range(0, T, 1, 'int32'), EMB_DIM, T);

/** The diffusion model: (x_t [B,2], t int32 [B]) -> [B,4]. */
const model = (x, t) => tf.tidy(() => net.apply([x, tf.gather(embTable, t)]));

// ---------------------------------------------------------------- diffusion
const betas = namedBetaSchedule('cosine', T);
const diffusion = new GaussianDiffusion({
  betas,
  modelMeanType: 'epsilon',
  modelVarType: 'learned_range',
  lossType: 'rescaled_mse', // L_hybrid = L_simple + (T/1000)·L_vlb
});

// ---------------------------------------------------------------- training
console.log(
  `toy2d: 8 Gaussians, backend ${tf.getBackend()}, T=${T} cosine, MLP width ${WIDTH} ` +
    `(${net.countParams()} params), ${STEPS} steps × batch ${BATCH}, lr ${LR}`,
);
const optimizer = tf.train.adam(LR);
const sampler = new UniformSampler(T);
const t0 = performance.now();
let window = { loss: 0, mse: 0, vb: 0, n: 0 };
let lastLoss = NaN;
for (let step = 1; step <= STEPS; step++) {
  const x0 = tf.tensor2d(sampleData(BATCH, SEED * 7919 + step), [BATCH, 2]);
  const { indices, weights, timesteps } = sampler.sample(BATCH, { seed: SEED * 1_000_003 + step });
  timesteps.dispose(); // the host copy (indices) is what trainingLosses gets
  // Cosine-decay the learning rate over the last 2/3 of training.
  optimizer.learningRate = LR * (step < STEPS / 3 ? 1 : 0.5 * (1 + Math.cos((Math.PI * (step - STEPS / 3)) / ((2 * STEPS) / 3))));
  let parts;
  const cost = optimizer.minimize(() => {
    const out = diffusion.trainingLosses(model, x0, indices, { seed: SEED * 1_000_003 + step });
    parts = tf.keep(tf.stack([tf.mean(out.mse), tf.mean(out.vb)]));
    // Importance-weighted mean (all weights are 1 for UniformSampler).
    return tf.mean(tf.mul(out.loss, weights));
  }, true);
  const [mse, vb] = parts.dataSync();
  const loss = cost.dataSync()[0];
  tf.dispose([x0, weights, cost, parts]);
  if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}`);
  window = { loss: window.loss + loss, mse: window.mse + mse, vb: window.vb + vb, n: window.n + 1 };
  if (step % LOG_EVERY === 0 || step === STEPS) {
    lastLoss = window.loss / window.n;
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `step ${String(step).padStart(5)}/${STEPS}  loss ${lastLoss.toFixed(4)}  ` +
        `(mse ${(window.mse / window.n).toFixed(4)}, vb ${(window.vb / window.n).toFixed(4)} bits)  ${secs.toFixed(1)}s`,
    );
    window = { loss: 0, mse: 0, vb: 0, n: 0 };
  }
}
const trainSeconds = (performance.now() - t0) / 1000;

// ---------------------------------------------------------------- sampling
/**
 * Ancestral sampling x_T ~ N(0, I) -> x_0 with difflib's progressive loop. `diff` may be
 * a respaced GaussianDiffusion over fewer steps; it calls the model with original
 * timesteps. Returns x_0 [n, 2] on the host and snapshots of x_t at the steps asked for.
 */
async function sampleLoop(diff, n, seed, snapshotAt = []) {
  const snapshots = [];
  let points = null;
  for await (const { t, sample } of diff.pSampleLoopProgressive(model, [n, 2], { seed, clipDenoised: false })) {
    // Readbacks only where we asked for a picture; the loop itself reads nothing back.
    if (snapshotAt.includes(t)) snapshots.push({ t: diff.timestepMap[t], points: sample.dataSync().slice() });
    if (t === 0) points = sample.dataSync().slice();
  }
  return { points, snapshots };
}

const tensorsBefore = tf.memory().numTensors;
const s0 = performance.now();
const snapAt = [T - 1, Math.round(0.4 * T), Math.round(0.2 * T), Math.round(0.1 * T)];
const full = await sampleLoop(diffusion, SAMPLES, SEED * 1_000_003 + 500_000, snapAt);
const samples = full.points;
const sampleSeconds = (performance.now() - s0) / 1000;
const tensorsAfter = tf.memory().numTensors;
console.log(
  `sampled ${SAMPLES} points with ${T} steps in ${sampleSeconds.toFixed(1)}s ` +
    `(live tensors before/after: ${tensorsBefore}/${tensorsAfter})`,
);

// Half as many steps: the same betas and model, respaced. Nothing to retrain.
let respaced = null;
if (!opts['no-respaced']) {
  const half = Math.max(2, Math.floor(T / 2));
  const short = diffusion.respace(String(half));
  const r = await sampleLoop(short, SAMPLES, SEED * 1_000_003 + 700_000);
  respaced = { steps: short.numTimesteps, points: r.points };
}
const tensorsEnd = tf.memory().numTensors;

// ---------------------------------------------------------------- quality numbers
/** Mean, std, fraction within 3σ of a mode, and per-mode shares of a flat [n·2] cloud. */
function stats(points) {
  const n = points.length / 2;
  let finite = 0;
  const mean = [0, 0];
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(points[2 * i]) && Number.isFinite(points[2 * i + 1])) finite++;
    mean[0] += points[2 * i] / n;
    mean[1] += points[2 * i + 1] / n;
  }
  const std = [0, 0];
  const counts = new Array(MODES).fill(0);
  let near = 0;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i];
    const y = points[2 * i + 1];
    std[0] += (x - mean[0]) ** 2 / n;
    std[1] += (y - mean[1]) ** 2 / n;
    let best = Infinity;
    let bestK = 0;
    CENTERS.forEach(([cx, cy], k) => {
      const d = Math.hypot(x - cx, y - cy);
      if (d < best) [best, bestK] = [d, k];
    });
    if (best < 3 * MODE_STD) {
      near++;
      counts[bestK]++;
    }
  }
  let radius = 0;
  let ring = 0;
  for (let i = 0; i < n; i++) {
    const r = Math.hypot(points[2 * i], points[2 * i + 1]);
    radius += r / n;
    if (Math.abs(r - RADIUS) < 0.2) ring++;
  }
  const round = (v) => Math.round(v * 1e4) / 1e4;
  return {
    finite: finite / n,
    mean: mean.map(round),
    std: std.map((v) => round(Math.sqrt(v))),
    meanRadius: round(radius), // 0.8 for the data, 1.25 for N(0, I)
    onRing: round(ring / n), // fraction with |r − 0.8| < 0.2: ~1 for the data, 0.23 for N(0, I)
    nearMode: round(near / n), // fraction within 3σ of a mixture mode (0.989 for the data itself)
    modeShares: counts.map((c) => round(c / Math.max(near, 1))), // 0.125 each for the data
  };
}
const dataPoints = sampleData(SAMPLES, SEED * 7919 + 2);
const result = {
  backend: tf.getBackend(),
  steps: STEPS,
  batch: BATCH,
  timesteps: T,
  finalLoss: Math.round(lastLoss * 1e4) / 1e4,
  trainSeconds: Math.round(trainSeconds * 10) / 10,
  sampleSeconds: Math.round(sampleSeconds * 10) / 10,
  tensorsBeforeSampling: tensorsBefore,
  tensorsAfterSampling: tensorsAfter,
  tensorsAtEnd: tensorsEnd,
  data: stats(dataPoints),
  samples: stats(samples),
  respaced: respaced && { steps: respaced.steps, ...stats(respaced.points) },
  pngs: [],
};
const fmt = (s) =>
  `nearMode ${s.nearMode.toFixed(3)}, radius ${s.meanRadius.toFixed(3)}, mean [${s.mean.map((v) => v.toFixed(3))}], std [${s.std.map((v) => v.toFixed(3))}], ` +
  `mode shares ${Math.min(...s.modeShares).toFixed(3)}–${Math.max(...s.modeShares).toFixed(3)}`;
console.log(`data:              ${fmt(result.data)}`);
console.log(`samples (${String(T).padStart(3)} st.): ${fmt(result.samples)}`);
if (result.respaced) console.log(`samples (${String(result.respaced.steps).padStart(3)} st.): ${fmt(result.respaced)}`);

// ---------------------------------------------------------------- PNGs
const VIEW = 1.25; // plot [-VIEW, VIEW]²
/** Draws scatter panels side by side into one PNG; each panel is size×size. */
function scatterPng(file, panels, size = 512) {
  const png = new PNG({ width: size * panels.length, height: size });
  png.data.fill(255);
  const blend = (px, py, [r, g, b], alpha) => {
    if (px < 0 || py < 0 || px >= png.width || py >= png.height) return;
    const i = 4 * (py * png.width + px);
    png.data[i] += (r - png.data[i]) * alpha;
    png.data[i + 1] += (g - png.data[i + 1]) * alpha;
    png.data[i + 2] += (b - png.data[i + 2]) * alpha;
  };
  panels.forEach(({ layers }, p) => {
    const ox = p * size;
    const toPx = (v) => Math.round(((v + VIEW) / (2 * VIEW)) * (size - 1));
    // frame, the axes and the [-1, 1] box in light grey
    for (let k = 0; k < size; k++) {
      for (const v of [toPx(-1), toPx(0), toPx(1)]) {
        blend(ox + k, v, [200, 200, 200], 1);
        blend(ox + v, k, [200, 200, 200], 1);
      }
      for (const v of [0, size - 1]) {
        blend(ox + k, v, [120, 120, 120], 1);
        blend(ox + v, k, [120, 120, 120], 1);
      }
    }
    for (const { points, color, alpha = 0.6, radius = 2 } of layers) {
      for (let i = 0; i < points.length; i += 2) {
        if (!Number.isFinite(points[i]) || !Number.isFinite(points[i + 1])) continue;
        const cx = toPx(points[i]);
        const cy = toPx(-points[i + 1]); // y up
        for (let dy = -radius; dy <= radius; dy++) {
          for (let dx = -radius; dx <= radius; dx++) {
            if (dx * dx + dy * dy > radius * radius + 0.5) continue;
            const x = cx + dx;
            if (x < 0 || x >= size) continue;
            blend(ox + x, cy + dy, color, alpha);
          }
        }
      }
    }
  });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, PNG.sync.write(png));
  result.pngs.push(file);
  console.log(`wrote ${file} (${png.width}x${png.height})`);
}

const BLUE = [70, 130, 230];
const RED = [220, 40, 40];
const dataLayer = { points: dataPoints, color: BLUE, alpha: 0.35 };
scatterPng(path.join(OUT_DIR, 'toy2d-samples.png'), [{ layers: [dataLayer, { points: samples, color: RED, alpha: 0.6 }] }]);
if (respaced) {
  scatterPng(path.join(OUT_DIR, 'toy2d-samples-respaced.png'), [
    { layers: [dataLayer, { points: respaced.points, color: RED, alpha: 0.6 }] },
  ]);
}
// The reverse process at a glance: x_t at a few steps, then x_0.
scatterPng(
  path.join(OUT_DIR, 'toy2d-trajectory.png'),
  [...full.snapshots, { t: 0, points: samples }].map(({ points }) => ({
    layers: [{ points, color: RED, alpha: 0.5, radius: 1 }],
  })),
  256,
);
console.log(`trajectory panels: t = ${[...full.snapshots.map((s) => s.t), 'x_0'].join(', ')}`);

console.log(`RESULT ${JSON.stringify(result)}`);
