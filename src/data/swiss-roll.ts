import type * as tf from '@tensorflow/tfjs-core';
import { seededUniform } from '../random';
import { normalPair } from './box-muller';
import { HostDataset } from './host-dataset';
import { checkInteger, checkSeed } from '../validate';
import { checkNonNegative } from './option-checks';
import { randomSeed } from './permutation';

/** Largest roll angle, 4.5π: the roll spans angles [1.5π, 4.5π] as in scikit-learn's make_swiss_roll. */
const MAX_ANGLE = 4.5 * Math.PI;

/** Options of {@link swissRoll}. */
export interface SwissRollOptions {
  /** Seed of the draw; a fresh random seed when absent. */
  seed?: number;
  /** Std of the isotropic Gaussian noise added to each point (on the [−1, 1] scale). Default 0.02. */
  noise?: number;
}

/**
 * n points of the 2-D Swiss roll (scikit-learn's `make_swiss_roll`, x–z plane), scaled
 * into [−1, 1]²: with θ ~ U(1.5π, 4.5π),
 *
 *   p = (θ cos θ, θ sin θ) / 4.5π + noise · N(0, I),
 *
 * so before the noise a point's radius is θ/4.5π ∈ [1/3, 1] and the roll fills about
 * [−0.67, 0.89] × [−0.78, 1]. Uniform θ is uniform along the radius, not the arc length.
 *
 * @param n - number of points.
 * @returns points [n, 2] (no labels).
 *
 * @example
 * ```ts
 * const roll = swissRoll(10000, { seed: 0, noise: 0.02 });
 * const { x } = roll.sampleBatch(256, { seed: 1 }); // x: [256, 2] float32
 * ```
 */
export function swissRoll(n: number, options: SwissRollOptions = {}): HostDataset<tf.Tensor2D> {
  const fn = 'swissRoll';
  checkInteger(fn, 'n', n, { min: 1 });
  const noise = checkNonNegative(fn, 'options.noise', options.noise, 0.02);
  const uniform = seededUniform(checkSeed(fn, 'options.seed', options.seed) ?? randomSeed());
  const points = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const theta = 1.5 * Math.PI * (1 + 2 * uniform());
    const [ex, ey] = normalPair(uniform);
    points[2 * i] = (theta * Math.cos(theta)) / MAX_ANGLE + noise * ex;
    points[2 * i + 1] = (theta * Math.sin(theta)) / MAX_ANGLE + noise * ey;
  }
  return new HostDataset<tf.Tensor2D>(points, [n, 2]);
}
