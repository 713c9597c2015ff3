import * as tf from '@tensorflow/tfjs-core';
import type { ScoreModel } from '../../src/score';

/**
 * The exact score of N(μ, s² I) data perturbed by N(0, σ² I) noise: the perturbed density
 * is N(μ, (s² + σ²) I), so s*(x, σ) = −(x − μ)/(s² + σ²). `scale` and `shift` turn it into
 * the wrong scores c·s* + δ. x is [B, D] and μ is [D].
 */
export function gaussianScore(mu: tf.Tensor1D, s2: number, { scale = 1, shift = 0 } = {}): ScoreModel {
  return (x, sigmas) =>
    tf.tidy(() => {
      const variance = tf.reshape(tf.add(tf.square(sigmas), s2), [-1, 1]);
      const score = tf.div(tf.sub(mu, x), variance);
      return tf.add(tf.mul(score, scale), shift);
    });
}

/** Sample mean and (biased) variance of a Float32Array, in float64. */
export function moments(values: ArrayLike<number>): { mean: number; variance: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  const mean = sum / values.length;
  let ss = 0;
  for (let i = 0; i < values.length; i++) ss += (values[i]! - mean) ** 2;
  return { mean, variance: ss / values.length };
}
