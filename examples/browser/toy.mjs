// The 2-D toy of the browser demo: an MLP diffusion model on 8 Gaussians, trained with
// difflib's Trainer (Improved DDPM's hybrid loss) on whatever tfjs backend the page runs.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { GaussianDiffusion, Trainer, eightGaussians, namedBetaSchedule, timestepEmbedding } from 'difflib';

/** 8 modes of std 0.05 on a circle of radius 0.8 (difflib's eightGaussians). */
export const MODES = { count: 8, radius: 0.8, std: 0.05 };

/** Points of the data distribution, flat [n·2], seeded. */
export const dataPoints = (n, seed) => eightGaussians(n, { seed, std: MODES.std, radius: MODES.radius }).data;

/**
 * The process and the network: T-step cosine schedule, ε prediction with learned-range
 * variances, L_hybrid (lossType 'rescaled_mse'); an MLP [x_t, emb(t)] → [ε̂, v] of `width`
 * units, its last layer zero (so it starts as ε̂ = 0, v = 0).
 * @returns {{ diffusion: GaussianDiffusion, forward: (x: tf.Tensor2D, t: tf.Tensor1D) => tf.Tensor2D,
 *   trainableVariables: tf.Variable[], dispose: () => void }}
 */
export function createToyModel({ timesteps = 100, width = 128, seed = 0 } = {}) {
  const embDim = 32;
  const init = (k) => tfl.initializers.glorotUniform({ seed: seed * 100 + k });
  const xIn = tfl.input({ shape: [2] });
  const embIn = tfl.input({ shape: [embDim] });
  const temb = tfl.layers.dense({ units: width, activation: 'swish', kernelInitializer: init(0) }).apply(embIn);
  let h = tfl.layers.concatenate().apply([xIn, temb]);
  for (let k = 1; k <= 3; k++) h = tfl.layers.dense({ units: width, activation: 'swish', kernelInitializer: init(k) }).apply(h);
  const out = tfl.layers.dense({ units: 4, kernelInitializer: 'zeros' }).apply(h);
  const net = tfl.model({ inputs: [xIn, embIn], outputs: out });
  // emb(t) depends on t alone: one [T, embDim] table, gathered per batch.
  const embTable = timestepEmbedding(tf.range(0, timesteps, 1, 'int32'), embDim, timesteps);
  const diffusion = new GaussianDiffusion({
    betas: namedBetaSchedule('cosine', timesteps),
    modelMeanType: 'epsilon',
    modelVarType: 'learned_range',
    lossType: 'rescaled_mse',
  });
  return {
    diffusion,
    forward: (x, t) => tf.tidy(() => net.apply([x, tf.gather(embTable, t)])),
    trainableVariables: net.trainableWeights.map((w) => w.read()),
    dispose: () => {
      net.dispose();
      embTable.dispose();
    },
  };
}

/**
 * Trains `toy` for `steps` steps of `batch` fresh data points, calling `onStep(step, loss)`
 * after each (the Trainer's one readback per step gives the loss) and `onPause(step)` every
 * `pauseEvery` steps, awaited, for previews. Stops early when `signal` aborts.
 */
export async function trainToy(toy, { steps, batch = 256, lr = 2e-2, seed = 0, onStep, pauseEvery = 0, onPause, signal }) {
  const trainer = new Trainer({
    diffusion: toy.diffusion,
    model: { forward: toy.forward, trainableVariables: toy.trainableVariables },
    batchSize: batch,
    lr,
    warmupSteps: Math.min(50, Math.floor(steps / 10)),
    lrAnnealSteps: steps,
    emaRates: [],
    seed,
  });
  try {
    while (trainer.stepCount < steps && !signal?.aborted) {
      const x0 = tf.tensor2d(dataPoints(batch, seed * 7919 + trainer.stepCount), [batch, 2]);
      const log = await trainer.step(x0);
      x0.dispose();
      onStep?.(trainer.stepCount, log.loss.mean);
      if (pauseEvery > 0 && trainer.stepCount % pauseEvery === 0) await onPause?.(trainer.stepCount);
    }
  } finally {
    trainer.dispose();
  }
}

/**
 * The reverse process x_T → x_0 of `n` points over `steps` respaced steps, yielding each
 * x_t on the host ({ i, total, points: Float32Array [n·2] }) to draw it.
 */
export async function* denoiseToy(toy, { n, steps, seed }) {
  const process = steps < toy.diffusion.numTimesteps ? toy.diffusion.respace(String(steps)) : toy.diffusion;
  let i = 0;
  for await (const { sample } of process.pSampleLoopProgressive(toy.forward, [n, 2], { seed, clipDenoised: false })) {
    yield { i: ++i, total: process.numTimesteps, points: await sample.data() };
  }
}

/**
 * Fraction of points within 3σ of a mode (0.99 for the data, 0.06 for N(0, I)), and the
 * share of those at each mode (0.125 each for the data).
 */
export function modeStats(points) {
  const n = points.length / 2;
  const counts = new Array(MODES.count).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < MODES.count; k++) {
      const angle = (2 * Math.PI * k) / MODES.count;
      const d = Math.hypot(points[2 * i] - MODES.radius * Math.cos(angle), points[2 * i + 1] - MODES.radius * Math.sin(angle));
      if (d < 3 * MODES.std) counts[k]++;
    }
  }
  const near = counts.reduce((a, b) => a + b, 0);
  return { nearMode: near / n, modeShares: counts.map((c) => c / Math.max(near, 1)) };
}
