import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers them all.
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/backends/wasm-training-kernels';
import { GroupNormalization, groupNorm } from '../../src';
import { NODE_BACKENDS, useBackend } from '../backends';
import { expectDifflibError, expectNoLeak, relativeError, values } from '../helpers';

/** Float32 against a float64 reference / another float32 summation order, relative to the largest entry. */
const RTOL = 1e-5;

/** y = (x − μ_{b,g}) / √(σ²_{b,g} + ε) · γ + β in float64, x flat [B, R, C]. */
function groupNormFloat64(x: Float32Array, shape: number[], gamma: Float32Array, beta: Float32Array, groups: number, eps: number): Float64Array {
  const b = shape[0]!;
  const c = shape[shape.length - 1]!;
  const r = x.length / (b * c);
  const per = c / groups;
  const y = new Float64Array(x.length);
  for (let n = 0; n < b; n++) {
    for (let g = 0; g < groups; g++) {
      const at = (i: number, k: number) => (n * r + i) * c + g * per + k;
      let mean = 0;
      for (let i = 0; i < r; i++) for (let k = 0; k < per; k++) mean += x[at(i, k)]!;
      mean /= r * per;
      let variance = 0;
      for (let i = 0; i < r; i++) for (let k = 0; k < per; k++) variance += (x[at(i, k)]! - mean) ** 2;
      variance /= r * per;
      for (let i = 0; i < r; i++) {
        for (let k = 0; k < per; k++) y[at(i, k)] = ((x[at(i, k)]! - mean) / Math.sqrt(variance + eps)) * gamma[g * per + k]! + beta[g * per + k]!;
      }
    }
  }
  return y;
}

/** The textbook composition (tf.moments), whose gradient tfjs derives by autodiff. */
function groupNormByMoments(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number): tf.Tensor {
  const [b, ...rest] = x.shape;
  const c = rest[rest.length - 1]!;
  const grouped = tf.reshape(x, [b!, x.size / (b! * c), groups, c / groups]);
  const { mean, variance } = tf.moments(grouped, [1, 3], true);
  const normalized = tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
  return tf.add(tf.mul(normalized, gamma), beta);
}

interface Case {
  shape: number[];
  groups: number;
}
const CASES: Case[] = [
  { shape: [2, 8, 8, 64], groups: 32 }, // ADM's normalization(64)
  { shape: [3, 5, 7, 12], groups: 4 },
  { shape: [2, 10, 6], groups: 3 }, // [B, N, C]
  { shape: [4, 8], groups: 2 }, // [B, C]: each group is C/G values of one example
];

function inputs({ shape }: Case, seed: number) {
  const c = shape[shape.length - 1]!;
  const size = shape.reduce((a, b) => a * b, 1);
  // An offset and a scale per tensor, so that centring and scaling both matter.
  const xValues = values(size, seed).map((v) => 0.7 + 3 * v);
  const gammaValues = values(c, seed + 1).map((v) => 1 + 0.5 * v);
  const betaValues = values(c, seed + 2).map((v) => 0.3 * v);
  return {
    xValues,
    gammaValues,
    betaValues,
    x: tf.tensor(xValues, shape),
    gamma: tf.tensor1d(gammaValues),
    beta: tf.tensor1d(betaValues),
    dy: tf.tensor(values(size, seed + 3), shape),
  };
}

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  registerWasmTrainingKernels();
});

describe.each(NODE_BACKENDS)('groupNorm on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it.each(CASES)('matches a float64 GroupNorm on $shape with $groups groups', (c) => {
    const { xValues, gammaValues, betaValues, x, gamma, beta, dy } = inputs(c, 11);
    const y = groupNorm(x, gamma, beta, c.groups);
    expect(y.shape).toEqual(c.shape);
    const want = Float32Array.from(groupNormFloat64(xValues, c.shape, gammaValues, betaValues, c.groups, 1e-5));
    expect(relativeError(y.dataSync() as Float32Array, want)).toBeLessThanOrEqual(RTOL);
    tf.dispose([x, gamma, beta, dy, y]);
  });

  it.each(CASES)('its closed-form gradients equal autodiff of the tf.moments composition on $shape', (c) => {
    const { x, gamma, beta, dy } = inputs(c, 23);
    const gradsOf = (f: (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number) => tf.Tensor) =>
      tf.grads((a, g, b) => tf.sum(tf.mul(dy, f(a!, g!, b!, c.groups, 1e-5))))([x, gamma, beta]);
    const ours = gradsOf(groupNorm);
    const autodiff = gradsOf(groupNormByMoments);
    ['dx', 'dγ', 'dβ'].forEach((name, i) => {
      expect(ours[i]!.shape, name).toEqual(autodiff[i]!.shape);
      expect(relativeError(ours[i]!.dataSync() as Float32Array, autodiff[i]!.dataSync() as Float32Array), name).toBeLessThanOrEqual(RTOL);
    });
    tf.dispose([x, gamma, beta, dy, ...ours, ...autodiff]);
  });

  it('∂x sums to zero over every (example, group): the output ignores a shift of a group', () => {
    const c = CASES[1]!;
    const { x, gamma, beta, dy } = inputs(c, 5);
    const dx = tf.grad((a) => tf.sum(tf.mul(dy, groupNorm(a, gamma, beta, c.groups))))(x);
    const [b, ...rest] = c.shape;
    const channels = rest[rest.length - 1]!;
    const sums = tf.sum(tf.reshape(dx, [b!, -1, c.groups, channels / c.groups]), [1, 3]);
    const scale = tf.max(tf.abs(dx)).dataSync()[0]!;
    for (const s of sums.dataSync()) expect(Math.abs(s)).toBeLessThan(1e-5 * scale * x.size);
    tf.dispose([x, gamma, beta, dy, dx, sums]);
  });

  it('leaks no tensors, forward or backward', () => {
    const c = CASES[0]!;
    const { x, gamma, beta, dy } = inputs(c, 7);
    expectNoLeak(() => groupNorm(x, gamma, beta, c.groups));
    expectNoLeak(() => tf.grads((a, g, b) => tf.sum(tf.mul(dy, groupNorm(a!, g!, b!, c.groups))))([x, gamma, beta]));
    tf.dispose([x, gamma, beta, dy]);
  });

  it('is what GroupNormalization applies', () => {
    const c = CASES[0]!;
    const { x, dy } = inputs(c, 3);
    const layer = new GroupNormalization({ groups: c.groups, epsilon: 1e-6 });
    const y = layer.apply(x) as tf.Tensor;
    const [gamma, beta] = layer.getWeights();
    const direct = groupNorm(x, gamma!, beta!, c.groups, 1e-6);
    expect(Array.from(y.dataSync())).toEqual(Array.from(direct.dataSync()));
    tf.dispose([x, dy, y, direct]);
    layer.dispose();
  });
});

describe('groupNorm refuses bad input before making a tensor', () => {
  it('names the argument and what it expected', () => {
    const x = tf.zeros([2, 4, 4, 8]);
    const gamma = tf.ones([8]);
    const beta = tf.zeros([8]);
    const rank1 = tf.zeros([8]);
    const ints = tf.zeros([2, 8], 'int32');
    const gamma4 = tf.ones([4]);
    const beta2d = tf.zeros([1, 8]);
    expectDifflibError(() => groupNorm(rank1, gamma, beta, 2), 'groupNorm', 'x', 'SHAPE_MISMATCH');
    expectDifflibError(() => groupNorm([1, 2] as never, gamma, beta, 2), 'groupNorm', 'x', 'INVALID_ARGUMENT');
    expectDifflibError(() => groupNorm(ints, gamma, beta, 2), 'groupNorm', 'x', 'INVALID_ARGUMENT');
    for (const groups of [3, 0, 2.5, 16]) {
      const err = expectDifflibError(() => groupNorm(x, gamma, beta, groups), 'groupNorm', 'groups', 'INVALID_ARGUMENT');
      expect(err.message).toContain('dividing the 8 channels');
    }
    expectDifflibError(() => groupNorm(x, gamma4, beta, 2), 'groupNorm', 'gamma', 'SHAPE_MISMATCH');
    expectDifflibError(() => groupNorm(x, gamma, beta2d, 2), 'groupNorm', 'beta', 'SHAPE_MISMATCH');
    expectDifflibError(() => groupNorm(x, gamma, beta, 2, -1e-5), 'groupNorm', 'epsilon', 'INVALID_ARGUMENT');
    tf.dispose([x, gamma, beta, rank1, ints, gamma4, beta2d]);
  });
});
