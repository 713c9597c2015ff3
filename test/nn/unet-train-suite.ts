/**
 * One U-Net training step (hybrid loss, gradients, Adam update) on a backend, and the
 * comparison of its gradients with the cpu backend's on the same weights and data.
 *
 * Tolerance: per weight, max|g − g_cpu| ≤ 1e-3·max|g_cpu| + 1e-5·G, G the largest
 * gradient of the whole model. Backprop sums over the batch and positions in another
 * order per backend (and wasm's conv gradients are built from other kernels), so
 * float32 rounding differs. The G term is for gradients that are 0 in exact
 * arithmetic and only rounding noise here: the bias of a conv followed by a
 * GroupNorm with one channel per group is removed by the normalisation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { GaussianDiffusion, createUNet, namedBetaSchedule, type UNetConfig } from '../../src/index';

export const TRAIN_CONFIG: UNetConfig = {
  imageSize: 8,
  inChannels: 3,
  modelChannels: 32,
  outChannels: 6,
  numResBlocks: 1,
  attentionResolutions: [2],
  channelMult: [1, 2],
  numHeads: 2,
  numClasses: 4,
  useScaleShiftNorm: true,
  learnSigma: true,
};

export const GRADIENT_TOLERANCE = 1e-3;

/**
 * Builds the U-Net with seeded weights (tfjs draws seeded randoms in JS, so every
 * backend gets the same values), computes the gradient of the mean hybrid loss, and
 * applies one Adam step. Returns the gradients by weight name, read back.
 */
export function trainStep(backendName: string): Map<string, Float32Array> {
  expect(tf.getBackend()).toBe(backendName);
  const unet = createUNet(TRAIN_CONFIG);
  unet.model.weights.forEach((w, i) => {
    const value = tf.randomNormal(w.shape as number[], 0, 0.05, 'float32', 100 + i);
    w.write(value);
    value.dispose();
  });
  const diffusion = new GaussianDiffusion({
    betas: namedBetaSchedule('cosine', 1000),
    modelMeanType: 'epsilon',
    modelVarType: 'learned_range',
    lossType: 'rescaled_mse',
  });
  const x0 = tf.clipByValue(tf.randomNormal([2, 8, 8, 3], 0, 0.5, 'float32', 1), -1, 1);
  const noise = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 2);
  const y = tf.tensor1d([1, 3], 'int32');
  const optimizer = tf.train.adam(1e-3);
  const before = tf.memory().numTensors;

  const variables = unet.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.mean(diffusion.trainingLosses(unet.forward, x0, [0, 517], { noise, modelKwargs: { y } }).loss),
    variables,
  );
  expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
  const byName = new Map(
    unet.model.trainableWeights.map((w, i) => [w.originalName, grads[variables[i]!.name]!.dataSync() as Float32Array]),
  );
  optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
  tf.dispose([value, grads]);
  // Adam's moment slots are the only new tensors (two per variable, plus its step counters).
  const slots = tf.memory().numTensors - before;
  expect(slots).toBeLessThanOrEqual(2 * variables.length + 4);
  optimizer.dispose();
  tf.dispose([x0, noise, y]);
  unet.dispose();
  return byName;
}

/** Asserts two gradient sets agree weight by weight, and are not trivially zero. */
export function expectSameGradients(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  const maxAbs = (g: Float32Array) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const global = Math.max(...[...expected.values()].map(maxAbs));
  const failures: string[] = [];
  let significant = 0;
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    let maxDiff = 0;
    for (let i = 0; i < e.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - e[i]!));
    const maxRef = maxAbs(e);
    if (maxRef > 1e-3 * global) significant++;
    if (maxDiff > GRADIENT_TOLERANCE * maxRef + 1e-5 * global) {
      failures.push(`${name}: |diff| ${maxDiff.toExponential(2)}, max|g| ${maxRef.toExponential(2)}`);
    }
  }
  expect(failures).toEqual([]);
  // Not a vacuous pass: most weights get a real gradient.
  expect(significant).toBeGreaterThan(0.6 * expected.size);
}
