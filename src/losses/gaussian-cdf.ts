import * as tf from '@tensorflow/tfjs-core';
import { checkTensor } from '../validate';

/** √(2/π), the slope of the tanh approximation at 0. */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** Cubic coefficient of the tanh approximation (Page 1977). */
const CUBIC = 0.044715;

/**
 * The logit of the approximate standard-normal CDF: Φ(x) ≈ σ(a(x)) with
 * a(x) = 2·√(2/π)·(x + 0.044715 x³). This is the same function as
 * ½(1 + tanh(√(2/π)(x + 0.044715x³))), since ½(1 + tanh(z)) = σ(2z), but in
 * sigmoid form its tails can be taken in log space without cancellation.
 * @internal
 */
export function cdfLogit(x: tf.Tensor): tf.Tensor {
  return tf.mul(2 * SQRT_2_OVER_PI, tf.add(x, tf.mul(CUBIC, tf.mul(x, tf.square(x)))));
}

/**
 * A fast approximation of the standard normal CDF (the one improved-diffusion uses):
 *
 *   Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³)))
 *
 * evaluated as σ(2√(2/π)(x + 0.044715x³)), which is identical in exact arithmetic and
 * keeps full relative precision in the lower tail in float32.
 *
 * @param x - any shape, float32.
 * @returns Φ(x), same shape.
 *
 * @example
 * ```ts
 * approxStandardNormalCdf(tf.tensor1d([-1, 0, 1])); // ≈ [0.1588, 0.5, 0.8412]
 * ```
 */
export function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  checkTensor('approxStandardNormalCdf', 'x', x);
  return tf.tidy(() => tf.sigmoid(cdfLogit(x)));
}

/**
 * log σ(z) = −softplus(−z), without forming σ(z).
 * @internal
 */
export function logSigmoid(z: tf.Tensor): tf.Tensor {
  return tf.neg(tf.softplus(tf.neg(z)));
}
