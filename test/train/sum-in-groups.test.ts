/**
 * sumInGroups: the trainer's gradient-norm sum as AddN kernels of at most 7 inputs
 * (WebGPU cannot compile one AddN over a model's ~100 gradients).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { sumInGroups } from '../../src/train/sum-in-groups';
import { useBackend } from '../backends';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('sumInGroups', () => {
  test.each([1, 2, 7, 8, 49, 50, 130])('sums %i tensors exactly, no AddN wider than 7 inputs, no leak', async (n) => {
    // Integers: every partial sum is exact in float32, so any grouping gives the same bits.
    const tensors = Array.from({ length: n }, (_, i) => tf.tensor1d([i + 1, -2 * i]));
    const before = tf.memory().numTensors;
    const info = await tf.profile(() => tf.tidy(() => sumInGroups(tensors)));
    const sum = info.result as tf.Tensor;
    expect(Array.from(sum.dataSync())).toEqual([(n * (n + 1)) / 2, -n * (n - 1)]);
    const widths = info.kernels.filter((k) => k.name === 'AddN').map((k) => k.inputShapes.length);
    expect(Math.max(0, ...widths)).toBeLessThanOrEqual(7);
    if (n > 7) expect(widths.length).toBeGreaterThan(1);
    if (n === 1) expect(sum).toBe(tensors[0]); // a single term is returned as it is
    else sum.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(tensors);
  });
});
