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

/** u = a·(1 + s) + t (emb = [s | t] [B, 2C]), then y = u·sigmoid(u), in float64 on groupNormFloat64's a. */
function scaleShiftSiluFloat64(a: Float64Array, shape: number[], emb: Float32Array): Float64Array {
  const b = shape[0]!;
  const c = shape[shape.length - 1]!;
  const r = a.length / (b * c);
  return a.map((v, i) => {
    const n = Math.floor(i / (r * c));
    const k = i % c;
    const u = v * (1 + emb[n * 2 * c + k]!) + emb[n * 2 * c + c + k]!;
    return u / (1 + Math.exp(-u));
  });
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

  it.each(CASES)('with scale-shift and SiLU matches float64 on $shape', (c) => {
    const { xValues, gammaValues, betaValues, x, gamma, beta, dy } = inputs(c, 31);
    const channels = c.shape[c.shape.length - 1]!;
    const embValues = values(c.shape[0]! * 2 * channels, 32).map((v) => 2 * v);
    const emb = tf.tensor2d(embValues, [c.shape[0]!, 2 * channels]);
    const y = groupNorm(x, gamma, beta, c.groups, 1e-5, { scaleShift: emb, activation: 'silu' });
    const a = groupNormFloat64(xValues, c.shape, gammaValues, betaValues, c.groups, 1e-5);
    const want = Float32Array.from(scaleShiftSiluFloat64(a, c.shape, embValues));
    expect(relativeError(y.dataSync() as Float32Array, want)).toBeLessThanOrEqual(RTOL);
    tf.dispose([x, gamma, beta, dy, emb, y]);
  });

  it.each(CASES)('with scale-shift and SiLU, its gradients (emb\'s too) equal autodiff of the textbook composition on $shape', (c) => {
    const { x, gamma, beta, dy } = inputs(c, 37);
    const channels = c.shape[c.shape.length - 1]!;
    const emb = tf.tensor2d(values(c.shape[0]! * 2 * channels, 38), [c.shape[0]!, 2 * channels]);
    const textbook = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, e: tf.Tensor) => {
      const normalized = groupNormByMoments(a, g, b, c.groups, 1e-5);
      const [s, t] = tf.split(tf.reshape(e, [c.shape[0]!, ...c.shape.slice(1, -1).map(() => 1), 2 * channels]), 2, -1) as [tf.Tensor, tf.Tensor];
      const u = tf.add(tf.mul(normalized, tf.add(s, 1)), t);
      return tf.mul(u, tf.sigmoid(u));
    };
    const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, e: tf.Tensor) => groupNorm(a, g, b, c.groups, 1e-5, { scaleShift: e, activation: 'silu' });
    const gradsOf = (f: typeof ours) => tf.grads((a, g, b, e) => tf.sum(tf.mul(dy, f(a!, g!, b!, e!))))([x, gamma, beta, emb]);
    const got = gradsOf(ours);
    const want = gradsOf(textbook);
    ['dx', 'dγ', 'dβ', 'demb'].forEach((name, i) => {
      expect(got[i]!.shape, name).toEqual(want[i]!.shape);
      expect(relativeError(got[i]!.dataSync() as Float32Array, want[i]!.dataSync() as Float32Array), name).toBeLessThanOrEqual(RTOL);
    });
    tf.dispose([x, gamma, beta, dy, emb, ...got, ...want]);
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
    const emb = tf.zeros([c.shape[0]!, 2 * c.shape[3]!]);
    const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, e: tf.Tensor) => groupNorm(a, g, b, c.groups, 1e-5, { scaleShift: e, activation: 'silu' });
    expectNoLeak(() => fused(x, gamma, beta, emb));
    expectNoLeak(() => tf.grads((a, g, b, e) => tf.sum(tf.mul(dy, fused(a!, g!, b!, e!))))([x, gamma, beta, emb]));
    tf.dispose([x, gamma, beta, dy, emb]);
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
    const emb = tf.zeros([2, 16]);
    const before = tf.memory().numTensors;
    for (const bad of [tf.zeros([2, 8]), tf.zeros([1, 16]), tf.zeros([2, 16, 1])]) {
      const err = expectDifflibError(() => groupNorm(x, gamma, beta, 2, 1e-5, { scaleShift: bad }), 'groupNorm', 'options.scaleShift', 'SHAPE_MISMATCH');
      expect(err.message).toContain('must be [2, 16]');
      bad.dispose();
    }
    expectDifflibError(() => groupNorm(x, gamma, beta, 2, 1e-5, { scaleShift: [[0]] as never }), 'groupNorm', 'options.scaleShift', 'INVALID_ARGUMENT');
    expectDifflibError(() => groupNorm(x, gamma, beta, 2, 1e-5, { activation: 'swish' as never }), 'groupNorm', 'options.activation', 'UNKNOWN_OPTION');
    expectDifflibError(() => groupNorm(x, gamma, beta, 2, 1e-5, { shift: emb } as never), 'groupNorm', 'options.shift', 'UNKNOWN_OPTION');
    expectDifflibError(() => groupNorm(x, gamma, beta, 2, 1e-5, 'silu' as never), 'groupNorm', 'options', 'INVALID_ARGUMENT');
    expect(tf.memory().numTensors).toBe(before);
    const layer = new GroupNormalization({ groups: 2, scaleShift: true });
    expectDifflibError(() => layer.apply(x), 'GroupNormalization', 'inputs', 'INVALID_ARGUMENT');
    expect(layer.built).toBe(false);
    tf.dispose([x, gamma, beta, rank1, ints, gamma4, beta2d, emb]);
  });
});
