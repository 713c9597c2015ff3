// The first program of docs/getting-started.md: train a tiny diffusion model on 2-D points
// and sample from it.  node examples/getting-started.mjs [training steps, default 2000]
// #region first-program
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers'; // layers, and the gradients of every op
import { GaussianDiffusion, UniformSampler, eightGaussians, namedBetaSchedule, registerWasmTrainingKernels, timestepEmbedding } from 'difflib';

await tf.setBackend('wasm');
registerWasmTrainingKernels(); // fast matMul gradients on wasm
const T = 100;
const steps = Number(process.argv[2] ?? 2000);
const diffusion = new GaussianDiffusion({
  betas: namedBetaSchedule('cosine', T), modelMeanType: 'epsilon', modelVarType: 'fixed_small', lossType: 'mse',
});

// ε_θ(x_t, t): an MLP on the point and a sinusoidal embedding of t.
const net = tfl.sequential({ layers: [
  tfl.layers.dense({ inputShape: [2 + 32], units: 64, activation: 'swish' }),
  tfl.layers.dense({ units: 64, activation: 'swish' }),
  tfl.layers.dense({ units: 2 }),
] });
const model = (x, t) => tf.tidy(() => net.apply(tf.concat([x, timestepEmbedding(t, 32, T)], 1)));

const optimizer = tf.train.adam(1e-2);
const sampler = new UniformSampler(T);
for (let step = 1; step <= steps; step++) {
  const x0 = tf.tensor2d(eightGaussians(128, { seed: step }).data, [128, 2]); // 8 modes on a circle of radius 0.8
  const { indices, weights, timesteps } = sampler.sample(128, { seed: step });
  optimizer.learningRate = 1e-2 * (1 - step / (steps + 1)); // linear decay
  const loss = optimizer.minimize(() => tf.mean(diffusion.trainingLosses(model, x0, indices, { seed: step }).loss), true);
  if (step % 200 === 0) console.log(`step ${step}: loss ${loss.dataSync()[0].toFixed(3)}`);
  tf.dispose([x0, weights, timesteps, loss]);
}

const samples = await diffusion.respace('ddim25').ddimSampleLoop(model, [1000, 2], { seed: 0 }); // 25 DDIM steps
// #endregion first-program
const [meanRadius, onRing] = tf.tidy(() => {
  const radius = tf.norm(samples, 'euclidean', 1); // the data lie at radius 0.8 ± 0.05
  const nearRing = tf.cast(tf.less(tf.abs(tf.sub(radius, 0.8)), 0.15), 'float32');
  return [tf.mean(radius), tf.mean(nearRing)].map((v) => v.dataSync()[0]);
});
samples.dispose();
console.log(`RESULT ${JSON.stringify({ steps, meanRadius, onRing })}`); // data: 0.8 and ~1; N(0, I): 1.25 and 0.18
