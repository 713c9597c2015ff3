import type * as tf from '@tensorflow/tfjs-core';
import { checkModelOutput } from '../validate';

/**
 * A noise-conditional score network s_θ(x, σ) ≈ ∇_x log q_σ(x), the score of the data
 * density perturbed by N(0, σ² I) (Song & Ermon 2019). `x` is [B, …]; `sigmas` is a
 * float32 Tensor1D [B] holding each example's σ (NCSNv2 divides its output by it; NCSN
 * looks up its level). Returns the score, x's shape; difflib disposes what it returns.
 */
export type ScoreModel<X extends tf.Tensor = tf.Tensor> = (x: X, sigmas: tf.Tensor1D) => tf.Tensor;

/**
 * Calls the score model and checks that it returned x's shape.
 * @internal
 */
export function evaluateScore<X extends tf.Tensor>(fn: string, scoreModel: ScoreModel<X>, x: X, sigmas: tf.Tensor1D): tf.Tensor {
  return checkModelOutput(fn, 'scoreModel output', scoreModel(x, sigmas), x.shape, " (x's)");
}
