// The "Use" program of README.md (the lines between the region markers), then a check of what it
// did: one `RESULT {json}` line.  node examples/readme-use.mjs
// #region use
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm'; // or -cpu, -webgl, -webgpu, or @tensorflow/tfjs-node
import '@tensorflow/tfjs-layers'; // registers gradients (tfjs-core alone has none)
import { GaussianDiffusion, UniformSampler, createUNet, namedBetaSchedule } from 'difflib';

await tf.setBackend('wasm');

const options = {
  betas: namedBetaSchedule('cosine', 1000),
  modelMeanType: 'epsilon',
  modelVarType: 'learned_range', // the model outputs 2C channels: ε, then v ∈ [-1, 1]
  lossType: 'rescaled_mse', // L_hybrid = L_simple + λ·L_vlb
};
const diffusion = new GaussianDiffusion(options);

// The model: (x_t [B,H,W,C], t [B] int32) => [B,H,W,2C]. Here a small ADM U-Net for 8×8 images.
const unet = createUNet({
  imageSize: 8, inChannels: 1, modelChannels: 32, outChannels: 2, learnSigma: true,
  numResBlocks: 1, attentionResolutions: [], channelMult: [1, 2],
});
const model = unet.forward;

// The data: a batch of images in [-1, 1], [B,H,W,C]. Here 16 images of a white vertical bar on black.
const x0 = tf.tensor4d(Array.from({ length: 16 }, (_, i) =>
  Array.from({ length: 8 }, () => Array.from({ length: 8 }, (_, col) => [col === i % 8 ? 1 : -1]))));

// Training: a few steps of Adam on L_hybrid at uniformly drawn timesteps.
const optimizer = tf.train.adam(1e-3);
const sampler = new UniformSampler(diffusion.numTimesteps);
for (let step = 1; step <= 30; step++) {
  const { indices, weights, timesteps } = sampler.sample(x0.shape[0], { seed: step });
  const loss = optimizer.minimize(() => tf.mean(tf.mul(diffusion.trainingLosses(model, x0, indices, { seed: step }).loss, weights)), true);
  if (step % 10 === 0) console.log(`step ${step}: loss ${(await loss.data())[0].toFixed(3)}`);
  tf.dispose([weights, timesteps, loss]);
}

// Sampling in 50 steps: the same process respaced; the model still sees original timesteps.
const fast = new GaussianDiffusion({ ...options, useTimesteps: 'ddim50' });
let x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 0); // x_T
for (let t = fast.numTimesteps - 1; t >= 0; t--) {
  const { sample, predXStart } = fast.ddimSample(model, x, Array(4).fill(t));
  tf.dispose([x, predXStart]);
  x = sample;
}
console.log(`4 samples ${x.shape.join('×')}, pixels in [${(await tf.min(x).data())[0].toFixed(2)}, ${(await tf.max(x).data())[0].toFixed(2)}]`);
// #endregion use

// The check: on the same x_t (fixed timesteps and noise), the trained U-Net's loss is below an
// untrained one's. createUNet zero-initialises the output layer, so the untrained one predicts ε = 0
// and v = 0.
const evalT = [50, 250, 500, 750, 999, 100, 400, 900];
const evalX0 = tf.gather(x0, [0, 1, 2, 3, 4, 5, 6, 7]);
const evalNoise = tf.randomNormal(evalX0.shape, 0, 1, 'float32', 1);
const untrained = createUNet(unet.config.numClasses === null ? { ...unet.config, numClasses: undefined } : unet.config);
const evalLoss = async (m) => {
  const losses = diffusion.trainingLosses(m, evalX0, evalT, { noise: evalNoise });
  const mean = (await tf.mean(losses.loss).data())[0];
  tf.dispose(Object.values(losses));
  return mean;
};
// A bar image has one column at 1 and the others at -1, and equal rows: its bar contrast (brightest
// column's mean minus the other columns') is 2 and its row spread (largest minus smallest row mean) 0.
const images = await x.array();
const columnMeans = (img) => img[0].map((_, c) => img.reduce((sum, row) => sum + row[c][0], 0) / img.length);
const rowMeans = (img) => img.map((row) => row.reduce((sum, p) => sum + p[0], 0) / row.length);
const barContrast = (img) => {
  const cols = columnMeans(img).sort((a, b) => b - a);
  return cols[0] - cols.slice(1).reduce((a, b) => a + b, 0) / (cols.length - 1);
};
const spread = (values) => Math.max(...values) - Math.min(...values);
const pixels = images.flat(3);
console.log(`RESULT ${JSON.stringify({
  backend: tf.getBackend(),
  trainedLoss: await evalLoss(model),
  untrainedLoss: await evalLoss(untrained.forward),
  samples: {
    shape: x.shape,
    finite: pixels.every(Number.isFinite),
    min: Math.min(...pixels),
    max: Math.max(...pixels),
    barContrast: images.map(barContrast),
    rowSpread: images.map((img) => spread(rowMeans(img))),
  },
})}`);
