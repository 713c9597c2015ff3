import * as tf from '@tensorflow/tfjs-core';

/**
 * Standard normal draws of `shape` (float32), reproducible for every seed including 0.
 * tfjs' `randomNormal` ignores a seed of 0 (`seed ? seed : Math.random()`), so 0 is
 * passed as the smallest positive double, which seeds its generator distinctly.
 * @internal
 */
export function standardNormal(shape: readonly number[], seed?: number): tf.Tensor {
  const tfSeed = seed === 0 ? Number.MIN_VALUE : seed;
  return tf.randomNormal(shape as number[], 0, 1, 'float32', tfSeed);
}
