import * as tf from '@tensorflow/tfjs-core';
import { DifflibError } from '../errors';
import { shapeString } from '../tensor-checks';

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
  const score = scoreModel(x, sigmas);
  if (!(score instanceof tf.Tensor)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'scoreModel', 'must return a tf.Tensor');
  }
  if (score.shape.length !== x.shape.length || score.shape.some((d, i) => d !== x.shape[i])) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      'scoreModel',
      `returned shape ${shapeString(score.shape)} but x has shape ${shapeString(x.shape)}`,
    );
  }
  return score;
}
