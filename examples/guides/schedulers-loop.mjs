// A block of docs/schedulers.md ("The loop"): the lines between the region markers, then its
// numbers as one `RESULT {json}` line.  node examples/guides/schedulers-loop.mjs
// #region loop
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { DDIMScheduler, sample } from 'difflib';

const scheduler = new DDIMScheduler({ betaSchedule: 'squaredcos_cap_v2', clipSample: false, timestepSpacing: 'trailing' });

// A model whose answer is known: for data x_0 ~ N(0, 0.5² I) the ideal ε-prediction at step t is
// ε̂ = √(1 − ᾱ_t)·x_t / (0.25·ᾱ_t + 1 − ᾱ_t), with ᾱ_t from the scheduler's own table.
const alphasCumprod = tf.tensor1d(scheduler.alphasCumprod);
const model = (x, t) =>
  tf.tidy(() => {
    const abar = tf.reshape(tf.gather(alphasCumprod, t), [-1, 1]); // [B, 1]
    const noise = tf.sub(1, abar);
    return tf.div(tf.mul(tf.sqrt(noise), x), tf.add(tf.mul(0.25, abar), noise));
  });
const xT = tf.randomNormal([2000, 2], 0, 1, 'float32', 0);

// diffusers' pipeline loop, by hand:
scheduler.setTimesteps(25);
let x = tf.mul(xT, scheduler.initNoiseSigma);
for (const t of scheduler.timesteps) {
  const { prevSample, predOriginalSample } = tf.tidy(() => {
    const input = scheduler.scaleModelInput(x, t); // x itself for DDIM; x/√(σ²+1) for sigma schedulers
    const eps = model(input, tf.fill([2000], t, 'int32')); // t as the model takes it: [B]
    return scheduler.step(eps, t, x);
  });
  tf.dispose([x, predOriginalSample]);
  x = prevSample;
}

// The same loop in one call (it also takes a seed, guidance, onProgress and an AbortSignal):
const same = await sample(scheduler, model, [2000, 2], { numInferenceSteps: 25, initialNoise: xT });
// #endregion loop

const std = tf.tidy(() => Array.from(tf.sqrt(tf.moments(x, 0).variance).dataSync()));
const maxDifference = tf.tidy(() => tf.max(tf.abs(tf.sub(x, same))).dataSync()[0]);
tf.dispose([x, same, xT, alphasCumprod]);
console.log(`RESULT ${JSON.stringify({ steps: scheduler.timesteps.length, timesteps: Array.from(scheduler.timesteps), std, maxDifference, tensorsAtEnd: tf.memory().numTensors })}`);
