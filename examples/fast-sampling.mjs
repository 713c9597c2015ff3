#!/usr/bin/env node
// Fast samplers side by side: full-length ancestral sampling, ancestral sampling on a
// respaced process, DDIM and DPM-Solver++(2M) (on an evenly spaced and on a quadratic
// grid), each timed and scored against the exact data distribution.
//
//   npm run example:fast-sampling      # 2000 points, T = 1000, cosine; ~15 s on 2 cores (wasm)
//   node examples/fast-sampling.mjs --samples 200 --timesteps 100 --respaced 20 --ddim 20 --dpm 10   # smoke size
//
// Flags: --samples N (2000)  --timesteps T (1000)  --schedule cosine|linear (cosine)
//        --respaced N (50)  --ddim N (50)  --dpm N (20)  --mode-std X (0.05)  --seed N (0)
//        --backend wasm|cpu (wasm)  --out DIR (out; where fast-sampling.png goes)
//
// No network is trained: the data is the 8-Gaussian mixture of examples/toy2d.mjs, whose
// ideal denoiser is known in closed form, so the model (lib/eight-gaussians.mjs) is *exact* and every
// difference between the samplers is the sampler's own error. The model predicts ε and
// (modelVarType 'learned_range') the variance interpolation v of the moment-matched
// Gaussian reverse step, the variance a perfectly trained Improved-DDPM model would learn.
//
// Scores against the mixture: MMD (Gaussian kernel, bandwidth 0.1) to the exact
// distribution, computed in closed form on the data side; the median distance to the
// nearest mode relative to the data's (1 = modes as wide as the data's); the fraction of
// points within 3 std of a mode; and the total-variation distance of the mode shares
// from 1/8 each. The last stdout line is `RESULT {json}` with every number.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { GaussianDiffusion, dpmSolverSample, eightGaussians, namedBetaSchedule } from 'difflib';
import { RADIUS, exactMixtureModel, scoreMixture } from './lib/eight-gaussians.mjs';

// ---------------------------------------------------------------- options
const { values: opts } = parseArgs({
  options: {
    samples: { type: 'string', default: '2000' },
    timesteps: { type: 'string', default: '1000' },
    schedule: { type: 'string', default: 'cosine' },
    respaced: { type: 'string', default: '50' },
    ddim: { type: 'string', default: '50' },
    dpm: { type: 'string', default: '20' },
    'mode-std': { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'wasm' },
    out: { type: 'string', default: 'out' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: node examples/fast-sampling.mjs [--samples N] [--timesteps T] [--schedule cosine|linear]');
  console.log('       [--respaced N] [--ddim N] [--dpm N] [--seed N] [--backend wasm|cpu] [--out DIR]');
  process.exit(0);
}
const int = (name, min = 1) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${opts[name]}`);
  return v;
};
const [N, T, RESPACED, DDIM, DPM, SEED] = [int('samples', 2), int('timesteps', 20), int('respaced', 2), int('ddim', 2), int('dpm', 2), int('seed', 0)];
if (opts.schedule !== 'cosine' && opts.schedule !== 'linear') throw new Error(`--schedule must be cosine or linear, got ${opts.schedule}`);
if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, got ${opts.backend}`);
for (const [name, steps] of [['respaced', RESPACED], ['ddim', DDIM], ['dpm', DPM]]) {
  if (steps > T) throw new Error(`--${name} ${steps} asks for more steps than --timesteps ${T}`);
}

await import(opts.backend === 'wasm' ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-cpu');
if (!(await tf.setBackend(opts.backend))) throw new Error(`backend ${opts.backend} failed to start`);
await tf.ready();

// ---------------------------------------------------------------- the data and its exact model
// The mixture, its exact model (ε and the learned-range v of a perfectly trained Improved-DDPM
// model) and the scores are in lib/eight-gaussians.mjs.
const S = Number(opts['mode-std']); // std of each mode
if (!(S > 0 && S <= 0.5)) throw new Error(`--mode-std must lie in (0, 0.5], got ${opts['mode-std']}`);

const diffusion = new GaussianDiffusion({
  betas: namedBetaSchedule(opts.schedule, T),
  modelMeanType: 'epsilon',
  modelVarType: 'learned_range',
  lossType: 'rescaled_mse',
});

const exact = exactMixtureModel(diffusion, S);
console.log(
  `fast-sampling: ${N} points of the 8-Gaussian mixture (mode std ${S}), ${opts.schedule} T=${T}, exact model, backend ${tf.getBackend()}`,
);

// ---------------------------------------------------------------- the samplers
// One x_T ~ N(0, I) for all, so the deterministic samplers start from the same points.
const xT = tf.randomNormal([N, 2], 0, 1, 'float32', SEED + 1);
const shape = [N, 2];
const common = { initialNoise: xT, seed: SEED + 2, clipDenoised: false };
/** DDIM's "quadratic" grid, t_i = round((i/(n−1))²·(T−1)): dense where the noise is low. */
const quadratic = (n) => Array.from({ length: n }, (_, i) => Math.round((i / (n - 1)) ** 2 * (T - 1)));
const runs = [
  { name: `ancestral-${T}`, label: `ancestral, all ${T} steps`, process: diffusion },
  { name: `ancestral-${RESPACED}`, label: `ancestral, respace('${RESPACED}')`, process: diffusion.respace(String(RESPACED)) },
  { name: `ddim-${DDIM}`, label: `DDIM η=0, respace('ddim${DDIM}')`, process: diffusion.respace(`ddim${DDIM}`) },
  { name: `dpm-solver-${DPM}`, label: `DPM-Solver++(2M), respace('${DPM}')`, process: diffusion.respace(String(DPM)) },
  {
    name: `dpm-solver-${DPM}-quadratic`,
    label: `DPM-Solver++(2M), quadratic ${DPM}`,
    process: diffusion.respace({ useTimesteps: quadratic(DPM) }),
  },
].map((r) => ({
  ...r,
  run: r.name.startsWith('ancestral')
    ? () => r.process.pSampleLoop(exact.model, shape, common)
    : r.name.startsWith('ddim')
      ? () => r.process.ddimSampleLoop(exact.model, shape, { ...common, eta: 0 })
      : () => dpmSolverSample(r.process, exact.model, shape, { initialNoise: xT }),
}));

tf.dispose(exact.model(tf.zeros([2, 2]), tf.tensor1d([0, T - 1], 'int32'))); // warm-up (kernel setup)
const tensorsBefore = tf.memory().numTensors;
for (const r of runs) {
  const start = performance.now();
  const x0 = await r.run();
  r.points = x0.dataSync().slice(); // the readback ends the timing: the work is done
  r.seconds = (performance.now() - start) / 1000;
  x0.dispose();
  r.stats = score(r.points);
  console.log(`${r.label.padEnd(38)} ${r.seconds.toFixed(2).padStart(6)} s   ${fmtStats(r.stats)}`);
  console.log(`  ${r.process.numTimesteps} model calls at t = ${stepList(r.process.timestepMap)}`);
}
const tensorsAfter = tf.memory().numTensors;

// Reference rows: fresh data (the sampling-noise floor of every score) and x_T itself.
const dataPoints = eightGaussians(N, { seed: SEED + 3, std: S, radius: RADIUS }).data;
const dataStats = score(dataPoints);
const noiseStats = score(xT.dataSync());
console.log(`${'(fresh data: the noise floor)'.padEnd(38)} ${''.padStart(6)}     ${fmtStats(dataStats)}`);
console.log(`${'(x_T ~ N(0, I): no sampling at all)'.padEnd(38)} ${''.padStart(6)}     ${fmtStats(noiseStats)}`);

// ---------------------------------------------------------------- scores
function score(points) {
  return scoreMixture(points, S);
}

function stepList(map) {
  return map.length <= 8 ? map.join(', ') : `${map.slice(0, 4).join(', ')}, …, ${map.slice(-2).join(', ')}`;
}

function fmtStats(s) {
  return `MMD ${s.mmd.toFixed(4).padStart(7)}   spread ${s.spreadRatio.toFixed(3)}   near mode ${s.nearMode.toFixed(3)}   mode TV ${s.modeTV.toFixed(3)}`;
}

// ---------------------------------------------------------------- PNG: data, then each sampler
const PANEL = 320;
const VIEW = 1.1;
const png = new PNG({ width: PANEL * (runs.length + 1), height: PANEL });
png.data.fill(255);
const blend = (px, py, [r, g, b], alpha) => {
  if (px < 0 || py < 0 || px >= png.width || py >= png.height) return;
  const i = 4 * (py * png.width + px);
  png.data[i] += (r - png.data[i]) * alpha;
  png.data[i + 1] += (g - png.data[i + 1]) * alpha;
  png.data[i + 2] += (b - png.data[i + 2]) * alpha;
};
const toPx = (v) => Math.round(((v + VIEW) / (2 * VIEW)) * (PANEL - 1));
const panels = [{ layers: [[dataPoints, [70, 130, 230], 0.6]] }, ...runs.map((r) => ({ layers: [[dataPoints, [70, 130, 230], 0.15], [r.points, [220, 40, 40], 0.6]] }))];
panels.forEach(({ layers }, p) => {
  const ox = p * PANEL;
  for (let k = 0; k < PANEL; k++) {
    for (const v of [0, PANEL - 1]) {
      blend(ox + k, v, [150, 150, 150], 1);
      blend(ox + v, k, [150, 150, 150], 1);
    }
  }
  for (const [points, color, alpha] of layers) {
    for (let i = 0; i < points.length; i += 2) {
      if (!Number.isFinite(points[i]) || !Number.isFinite(points[i + 1])) continue;
      const [cx, cy] = [toPx(points[i]), toPx(-points[i + 1])];
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (cx + dx >= 0 && cx + dx < PANEL) blend(ox + cx + dx, cy + dy, color, alpha);
    }
  }
});
mkdirSync(opts.out, { recursive: true });
const pngFile = path.join(opts.out, 'fast-sampling.png');
writeFileSync(pngFile, PNG.sync.write(png));
console.log(`wrote ${pngFile} (${png.width}x${png.height}): data, then ${runs.map((r) => r.name).join(', ')}`);

exact.dispose();
xT.dispose();
const result = {
  backend: tf.getBackend(),
  samples: N,
  timesteps: T,
  schedule: opts.schedule,
  modeStd: S,
  runs: runs.map((r) => ({
    name: r.name,
    label: r.label,
    modelCalls: r.process.numTimesteps, // one per step for every sampler here
    seconds: Math.round(r.seconds * 1000) / 1000,
    ...r.stats,
  })),
  data: dataStats,
  noise: noiseStats,
  tensorsBefore,
  tensorsAfter,
  tensorsAtEnd: tf.memory().numTensors,
  png: pngFile,
};
console.log(`RESULT ${JSON.stringify(result)}`);
