/**
 * AdamW against a float64 transcription of Loshchilov & Hutter's update, against
 * tfjs' Adam when the decay is 0, and its state round trip.
 *
 * Tolerance: the optimizer runs in float32. Each step is ~10 float32 operations per
 * element, each off by at most half an ulp (6e-8 relative), so three steps stay well
 * within 2e-6 of the float64 values (which are O(1) here).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, test } from 'vitest';
import { AdamW } from '../../src/train';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';

const THETA0 = [0.5, -1.0, 2.0];
const GRADIENTS = [
  [0.3, -0.2, 1.5],
  [-0.1, -0.4, 0.9],
  [0.05, 0.6, -2.0],
];
const FLOAT32_TOLERANCE = 2e-6;

/** θ ← θ − η(m̂/(√v̂ + ε) + λθ), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), in float64. */
function referenceAdamW(lr: number, weightDecay: number, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8): number[][] {
  const theta = [...THETA0];
  const m = [0, 0, 0];
  const v = [0, 0, 0];
  const history: number[][] = [];
  GRADIENTS.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < theta.length; i++) {
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! ** 2;
      const mHat = m[i]! / (1 - beta1 ** t);
      const vHat = v[i]! / (1 - beta2 ** t);
      theta[i] = theta[i]! - lr * (mHat / (Math.sqrt(vHat) + epsilon) + weightDecay * theta[i]!);
    }
    history.push([...theta]);
  });
  return history;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!), `element ${i}`).toBeLessThanOrEqual(tolerance);
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('AdamW', () => {
  test('three steps equal the float64 decoupled-weight-decay update', () => {
    const theta = tf.variable(tf.tensor1d(THETA0));
    const optimizer = new AdamW([theta], { learningRate: 0.1, weightDecay: 0.05 });
    const expected = referenceAdamW(0.1, 0.05);
    GRADIENTS.forEach((g, k) => {
      const grad = tf.tensor1d(g);
      optimizer.applyGradients({ [theta.name]: grad });
      grad.dispose();
      expectClose(theta.dataSync(), expected[k]!, FLOAT32_TOLERANCE);
    });
    expect(optimizer.step).toBe(3);
    // The decay matters: without it the result differs by far more than the tolerance.
    const undecayed = referenceAdamW(0.1, 0);
    expect(Math.abs(undecayed[2]![2]! - expected[2]![2]!)).toBeGreaterThan(1e-3);
    optimizer.dispose();
    theta.dispose();
  });

  test('a per-step learning rate overrides the default', () => {
    const theta = tf.variable(tf.tensor1d(THETA0));
    const optimizer = new AdamW([theta], { learningRate: 123, weightDecay: 0.05 });
    const expected = referenceAdamW(0.1, 0.05);
    for (const g of GRADIENTS) tf.tidy(() => optimizer.applyGradients(new Map([[theta.name, tf.tensor1d(g)]]), 0.1));
    expectClose(theta.dataSync(), expected[2]!, FLOAT32_TOLERANCE);
    optimizer.dispose();
    theta.dispose();
  });

  test('with weightDecay 0 it matches tf.train.adam', () => {
    const ours = tf.variable(tf.tensor1d(THETA0));
    const theirs = tf.variable(tf.tensor1d(THETA0));
    const adamw = new AdamW([ours], { learningRate: 0.1, epsilon: 1e-8 });
    const adam = tf.train.adam(0.1, 0.9, 0.999, 1e-8);
    for (const g of GRADIENTS) {
      tf.tidy(() => {
        adamw.applyGradients({ [ours.name]: tf.tensor1d(g) });
        adam.applyGradients({ [theirs.name]: tf.tensor1d(g) } as unknown as Parameters<typeof adam.applyGradients>[0]);
      });
    }
    // tfjs accumulates β₁ᵗ, β₂ᵗ in float32 and orders the ops differently: float32 rounding only.
    expectClose(ours.dataSync(), theirs.dataSync(), FLOAT32_TOLERANCE);
    expectClose(ours.dataSync(), referenceAdamW(0.1, 0)[2]!, FLOAT32_TOLERANCE);
    adamw.dispose();
    adam.dispose();
    tf.dispose([ours, theirs]);
  });

  test('a variable without a gradient is neither decayed nor moved', () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const b = tf.variable(tf.tensor1d([3, 4]));
    const optimizer = new AdamW([a, b], { learningRate: 0.1, weightDecay: 0.5 });
    tf.tidy(() => optimizer.applyGradients({ [a.name]: tf.tensor1d([1, 1]) }));
    expect(Array.from(b.dataSync())).toEqual([3, 4]);
    expect(Array.from(optimizer.getState().firstMoments[1]!.dataSync())).toEqual([0, 0]);
    optimizer.dispose();
    tf.dispose([a, b]);
  });

  test('restoring the state continues bit for bit', () => {
    const a = tf.variable(tf.tensor1d(THETA0));
    const optimizerA = new AdamW([a], { learningRate: 0.1, weightDecay: 0.05 });
    for (const g of GRADIENTS.slice(0, 2)) tf.tidy(() => optimizerA.applyGradients({ [a.name]: tf.tensor1d(g) }));

    const b = tf.variable(tf.clone(a));
    const optimizerB = new AdamW([b], { learningRate: 0.1, weightDecay: 0.05 });
    const { step, firstMoments, secondMoments } = optimizerA.getState();
    const copies = tf.tidy(() => ({ m: firstMoments.map((t) => tf.add(t, 0)), v: secondMoments.map((t) => tf.add(t, 0)) }));
    optimizerB.setState({ step, firstMoments: copies.m, secondMoments: copies.v });
    tf.dispose([copies.m, copies.v]); // the optimizer keeps its own reference
    expect(optimizerB.step).toBe(2);

    tf.tidy(() => {
      optimizerA.applyGradients({ [a.name]: tf.tensor1d(GRADIENTS[2]!) });
      optimizerB.applyGradients({ [b.name]: tf.tensor1d(GRADIENTS[2]!) });
    });
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(optimizerB.getState().secondMoments[0]!.dataSync())).toEqual(Array.from(optimizerA.getState().secondMoments[0]!.dataSync()));
    optimizerA.dispose();
    optimizerB.dispose();
    tf.dispose([a, b]);
  });

  test('an update reads nothing back and leaks nothing', () => {
    const theta = tf.variable(tf.randomNormal([16, 8], 0, 1, 'float32', 1));
    const optimizer = new AdamW([theta], { weightDecay: 0.01 });
    const grad = tf.randomNormal([16, 8], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    const reads = countReadbacks(() => {
      for (let k = 0; k < 3; k++) optimizer.applyGradients({ [theta.name]: grad });
    });
    expect(reads).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    tf.dispose([theta, grad]);
  });

  test('bad arguments are refused by name', () => {
    const theta = tf.variable(tf.zeros([3]));
    expectDifflibError(() => new AdamW([]), 'AdamW', 'variables', 'INVALID_ARGUMENT');
    expectDifflibError(() => new AdamW([theta, theta]), 'AdamW', 'variables');
    const notVariable = tf.zeros([2]);
    expectDifflibError(() => new AdamW([notVariable as tf.Variable]), 'AdamW', 'variables[0]');
    expectDifflibError(() => new AdamW([theta], { beta1: 1 }), 'AdamW', 'options.beta1');
    expectDifflibError(() => new AdamW([theta], { learningRate: -1 }), 'AdamW', 'options.learningRate');
    expectDifflibError(() => new AdamW([theta], { weightDecay: Number.NaN }), 'AdamW', 'options.weightDecay');
    const optimizer = new AdamW([theta]);
    const wrong = tf.zeros([4]);
    expectDifflibError(() => optimizer.applyGradients({ [theta.name]: wrong }), 'AdamW.applyGradients', `gradients["${theta.name}"]`, 'SHAPE_MISMATCH');
    expectDifflibError(() => optimizer.applyGradients({ nope: wrong }), 'AdamW.applyGradients', 'gradients');
    expectDifflibError(() => optimizer.applyGradients({}, -0.1), 'AdamW.applyGradients', 'learningRate');
    expectDifflibError(
      () => optimizer.setState({ step: 1, firstMoments: [wrong], secondMoments: [wrong] }),
      'AdamW.setState',
      'state.firstMoments[0]',
      'SHAPE_MISMATCH',
    );
    expect(optimizer.step).toBe(0);
    optimizer.dispose();
    tf.dispose([theta, wrong, notVariable]);
  });
});
