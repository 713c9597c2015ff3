import type * as tf from '@tensorflow/tfjs-core';
import { seededUniform } from '../random';
import { normalPair } from './box-muller';
import { HostDataset } from './host-dataset';
import { checkInteger, checkSeed } from '../validate';
import { checkNonNegative } from './option-checks';
import { randomSeed } from './permutation';

/** Number of mixture components. */
const MODES = 8;

/** Options of {@link eightGaussians}. */
export interface EightGaussiansOptions {
  /** Seed of the draw; a fresh random seed when absent. */
  seed?: number;
  /** Std of each component. Default 0.05. */
  std?: number;
  /** Radius of the circle the component means lie on. Default 0.8, so the data stays within about [−0.95, 0.95]². */
  radius?: number;
}

/**
 * n points of the mixture of 8 Gaussians, an equal-weight mixture of isotropic
 * Gaussians N(c_k, std²·I) with means on a circle,
 *
 *   c_k = radius · (cos 2πk/8, sin 2πk/8),  k = 0, …, 7,
 *
 * labelled by their component k. A point draws k = ⌊8u⌋, then two Box–Muller normals.
 *
 * @param n - number of points.
 * @returns points [n, 2] and labels [n] (the component, 0–7).
 *
 * @example
 * ```ts
 * const data = eightGaussians(10000, { seed: 0, std: 0.05, radius: 0.8 });
 * const { x, labels } = data.sampleBatch(256, { seed: 1 }); // x: [256, 2], labels: [256] int32
 * ```
 */
export function eightGaussians(n: number, options: EightGaussiansOptions = {}): HostDataset<tf.Tensor2D> {
  const fn = 'eightGaussians';
  checkInteger(fn, 'n', n, { min: 1 });
  const std = checkNonNegative(fn, 'options.std', options.std, 0.05);
  const radius = checkNonNegative(fn, 'options.radius', options.radius, 0.8);
  const uniform = seededUniform(checkSeed(fn, 'options.seed', options.seed) ?? randomSeed());
  const points = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(uniform() * MODES);
    const [ex, ey] = normalPair(uniform);
    points[2 * i] = radius * Math.cos((2 * Math.PI * k) / MODES) + std * ex;
    points[2 * i + 1] = radius * Math.sin((2 * Math.PI * k) / MODES) + std * ey;
    labels[i] = k;
  }
  return new HostDataset<tf.Tensor2D>(points, [n, 2], labels);
}
