#!/usr/bin/env node
// The likelihood bound in bits/dim (evaluateBpd), checked against a truth known in
// closed form: 8×8 "images" whose pixels are independent draws of N(μ, s²) rounded to
// the 8-bit grid x = k/127.5 − 1, scored with the exact denoiser of N(μ, s²) data.
//
//   npm run example:nll                                  # T = 1000, 32 images; ~30 s on 2 cores (wasm)
//   node examples/nll.mjs --timesteps 50 --examples 4    # smoke size
//
// Flags: --timesteps T (1000)  --examples N (32)  --batch N (32)  --mu X (0)  --std X (0.25)
//        --respaced N (T/10; 0 to skip that row)  --seed N (0)  --backend wasm|cpu (wasm)
//
// The true NLL of the data is the entropy of the discretised Gaussian,
// H = −Σ_k P_k log₂ P_k bits per pixel (P_k the mass of bin k). A diffusion model's bound
// L_0 + Σ L_t + L_T can only be above it on average (the bound is ≥ −log₂ p_θ(x), and
// E[−log₂ p_θ] ≥ H). The model here is exact for the continuous Gaussian, so the gap is
// what the bound itself costs: the discretised decoder L_0, the steps, and the variances.
// Rows: the same denoiser with the exact reverse variance (learned_range), with β̃_t
// (fixed_small) and with β_t (fixed_large), and the exact one on a respaced process.
// The last stdout line is `RESULT {json}`.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { GaussianDiffusion, HostDataset, evaluateBpd, namedBetaSchedule } from 'difflib';

const { values: opts } = parseArgs({
  options: {
    timesteps: { type: 'string', default: '1000' },
    examples: { type: 'string', default: '32' },
    batch: { type: 'string', default: '32' },
    mu: { type: 'string', default: '0' },
    std: { type: 'string', default: '0.25' },
    respaced: { type: 'string', default: '' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'wasm' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: node examples/nll.mjs [--timesteps T] [--examples N] [--batch N] [--mu X] [--std X] [--respaced N] [--seed N] [--backend wasm|cpu]');
  process.exit(0);
}
const int = (name, min = 1) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${opts[name]}`);
  return v;
};
const [T, EXAMPLES, BATCH, SEED] = [int('timesteps', 20), int('examples'), int('batch'), int('seed', 0)];
const RESPACED = opts.respaced === '' ? Math.round(T / 10) : int('respaced', 0);
const MU = Number(opts.mu);
const S = Number(opts.std);
if (!(Math.abs(MU) <= 0.5)) throw new Error(`--mu must lie in [-0.5, 0.5], got ${opts.mu}`);
if (!(S >= 0.02 && S <= 0.5)) throw new Error(`--std must lie in [0.02, 0.5], got ${opts.std}`);
if (RESPACED > T) throw new Error(`--respaced ${RESPACED} is more than --timesteps ${T}`);
if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, got ${opts.backend}`);

await import(opts.backend === 'wasm' ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-cpu');
if (!(await tf.setBackend(opts.backend))) throw new Error(`backend ${opts.backend} failed to start`);
await tf.ready();

// ---------------------------------------------------------------- data and the truth
const SIDE = 8;
const LEVELS = 256;
const HALF_BIN = 1 / 255;
const level = (k) => k / 127.5 - 1;
/** Φ((x − μ)/s) through erfc (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
function normalCdf(x) {
  const z = (x - MU) / (S * Math.SQRT2);
  const a = Math.abs(z);
  const u = 1 / (1 + 0.5 * a);
  const erfc =
    u *
    Math.exp(
      -a * a - 1.26551223 +
        u * (1.00002368 + u * (0.37409196 + u * (0.09678418 + u * (-0.18628806 + u * (0.27886807 +
        u * (-1.13520398 + u * (1.48851587 + u * (-0.82215223 + u * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
}
// P_k: the mass N(μ, s²) puts on bin k; the end bins take the tails, as the decoder's do.
const mass = Array.from({ length: LEVELS }, (_, k) => {
  const upper = k === LEVELS - 1 ? 1 : normalCdf(level(k) + HALF_BIN);
  const lower = k === 0 ? 0 : normalCdf(level(k) - HALF_BIN);
  return upper - lower;
});
const entropyBits = -mass.reduce((h, p) => (p > 0 ? h + p * Math.log2(p) : h), 0);

// Draw z ~ N(μ, s²) and round it to the nearest level: exactly a draw from P.
let state = (SEED * 2654435761 + 12345) >>> 0;
const uniform = () => {
  state = (state + 0x6d2b79f5) >>> 0; // mulberry32
  let r = Math.imul(state ^ (state >>> 15), 1 | state);
  r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
  return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
const D = SIDE * SIDE;
const pixels = new Float32Array(EXAMPLES * D);
let empiricalBits = 0; // −(1/D)·log₂ P(x) averaged over the examples drawn
for (let i = 0; i < pixels.length; i++) {
  const k = Math.min(LEVELS - 1, Math.max(0, Math.round((MU + S * normal() + 1) * 127.5)));
  pixels[i] = level(k);
  empiricalBits -= Math.log2(mass[k]) / pixels.length;
}
const data = new HostDataset(pixels, [EXAMPLES, SIDE, SIDE, 1]);
console.log(
  `nll: ${EXAMPLES} images of ${SIDE}×${SIDE} pixels ~ N(${MU}, ${S}²) on the 8-bit grid; ` +
    `true NLL ${entropyBits.toFixed(4)} bits/dim (${empiricalBits.toFixed(4)} on these examples); cosine T=${T}, ${tf.getBackend()}`,
);

// ---------------------------------------------------------------- the exact model
/**
 * The exact denoiser of continuous N(μ, s²) data for `process`, which calls it with
 * original timesteps (its `timestepMap`), so the tables are laid out by original step:
 * E[x_0 | x_t] = μ + (α s²/v)(x_t − α μ) and Var[x_0 | x_t] = s² σ²/v, v = α² s² + σ²,
 * returned as ε̂ and, when `withVariance`, as the v with which learned_range's
 * exp(frac·log β_t + (1 − frac)·log β̃_t), frac = (v + 1)/2, is the exact reverse variance
 * Σ = β̃_t + coef1_t²·Var[x_0 | x_t]: frac = log(1 + (coef1_t²/β̃_t)·Var)/log(β_t/β̃_t), both
 * logs formed to stay accurate in float32 where β̃_t ≈ β_t. Here Var ≤ 1 − ᾱ_t (s ≤ 1), so
 * v ∈ [−1, 1]. At step 0, β̃_0 = 0 (its log clipped to log β̃_1) and Σ = coef1_0²·Var.
 */
function exactGaussianModel(process, withVariance) {
  // Entry timestepMap[j] holds step j of this process; other entries are never read.
  const f32 = (values) => {
    const table = new Float32Array(process.originalNumTimesteps);
    process.timestepMap.forEach((t, j) => (table[t] = values[j]));
    return tf.tensor1d(table);
  };
  const base = process;
  const alpha = f32(base.sqrtAlphasCumprod);
  const sigma = f32(base.sqrtOneMinusAlphasCumprod);
  const clippedPosterior = base.posteriorLogVarianceClipped.map(Math.exp);
  const gainOverPosterior = f32(base.posteriorMeanCoef1.map((c, i) => (c * c) / clippedPosterior[i]));
  const logRatio = f32(base.logBetas.map((logBeta, i) => logBeta - base.posteriorLogVarianceClipped[i]));
  const firstStep = f32(base.betas.map((_, j) => (j === 0 ? 1 : 0)));
  const model = (x, t) =>
    tf.tidy(() => {
      const at = (table) => tf.reshape(tf.gather(table, t), [-1, 1, 1, 1]);
      const [a, sg] = [at(alpha), at(sigma)];
      const v = tf.add(tf.mul(tf.square(a), S * S), tf.square(sg));
      const x0 = tf.add(MU, tf.mul(tf.div(tf.mul(a, S * S), v), tf.sub(x, tf.mul(a, MU))));
      const eps = tf.div(tf.sub(x, tf.mul(a, x0)), sg);
      if (!withVariance) return eps;
      const varX0 = tf.div(tf.mul(S * S, tf.square(sg)), v);
      const scaledVar = tf.mul(at(gainOverPosterior), varX0); // coef1²·Var/β̃ (clipped β̃)
      const logSigmaOverPosterior = tf.where(tf.cast(at(firstStep), 'bool'), tf.log(scaledVar), tf.log1p(scaledVar)); // log(Σ/β̃)
      const frac = tf.div(logSigmaOverPosterior, at(logRatio));
      return tf.concat([eps, tf.broadcastTo(tf.sub(tf.mul(2, frac), 1), x.shape)], -1); // [B, H, W, 2]: ε, then v
    });
  return { model, dispose: () => tf.dispose([alpha, sigma, gainOverPosterior, logRatio, firstStep]) };
}

const betas = namedBetaSchedule('cosine', T);
const processOf = (modelVarType) => new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType, lossType: 'mse' });
const learned = processOf('learned_range');
const rows = [
  { name: 'learned_range', label: `exact variance (learned_range), ${T} steps`, diffusion: learned, withVariance: true },
  { name: 'fixed_small', label: `β̃_t (fixed_small), ${T} steps`, diffusion: processOf('fixed_small'), withVariance: false },
  { name: 'fixed_large', label: `β_t (fixed_large), ${T} steps`, diffusion: processOf('fixed_large'), withVariance: false },
];
if (RESPACED > 0) {
  rows.push({ name: `learned_range-${RESPACED}`, label: `exact variance, respace('${RESPACED}')`, diffusion: learned.respace(String(RESPACED)), withVariance: true });
}

// ---------------------------------------------------------------- the bound
const tensorsBefore = tf.memory().numTensors;
for (const row of rows) {
  const exact = exactGaussianModel(row.diffusion, row.withVariance);
  const start = performance.now();
  const quarter = Math.max(1, Math.round(row.diffusion.numTimesteps / 4));
  const result = await evaluateBpd(row.diffusion, exact.model, data, {
    batchSize: BATCH,
    seed: SEED,
    onProgress: ({ stepsDone, totalSteps }) => {
      if (stepsDone % quarter === 0) console.log(`  ${row.name}: ${stepsDone}/${totalSteps} bound terms`);
    },
  });
  row.seconds = (performance.now() - start) / 1000;
  exact.dispose();
  row.result = result;
  const T0 = row.diffusion.numTimesteps;
  console.log(
    `${row.label.padEnd(44)} ${result.bpd.toFixed(4)} ± ${result.bpdStandardError.toFixed(4)} bits/dim ` +
      `(gap ${(result.bpd - empiricalBits).toFixed(4)}; L_0 ${result.vbPerStep[0].toFixed(3)}, ` +
      `Σ L_t ${(result.bpd - result.vbPerStep[0] - result.priorBpd).toFixed(3)}, L_T ${result.priorBpd.toExponential(1)}; ${T0} terms, ${row.seconds.toFixed(1)} s)`,
  );
}

const round = (v) => Math.round(v * 1e6) / 1e6;
console.log(
  'RESULT ' +
    JSON.stringify({
      backend: tf.getBackend(),
      timesteps: T,
      examples: EXAMPLES,
      dims: D,
      mu: MU,
      std: S,
      trueBpd: round(entropyBits),
      empiricalTrueBpd: round(empiricalBits),
      rows: rows.map(({ name, diffusion, result, seconds }) => ({
        name,
        steps: diffusion.numTimesteps,
        bpd: round(result.bpd),
        standardError: round(result.bpdStandardError),
        gap: round(result.bpd - empiricalBits),
        decoderBpd: round(result.vbPerStep[0]),
        priorBpd: result.priorBpd,
        seconds: Math.round(seconds * 10) / 10,
      })),
      tensorsBefore,
      tensorsAfter: tf.memory().numTensors,
    }),
);
