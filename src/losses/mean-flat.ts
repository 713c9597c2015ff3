import * as tf from '@tensorflow/tfjs-core';
import { checkTensor } from '../validate';

/**
 * Mean over every axis but the first (the batch axis): [B, …] → [B].
 *
 * @param x - tensor of rank ≥ 1.
 * @returns Tensor1D of length B.
 *
 * @example
 * ```ts
 * meanFlat(tf.ones([2, 4, 4, 3])); // [1, 1]
 * ```
 */
export function meanFlat(x: tf.Tensor): tf.Tensor1D {
  checkTensor('meanFlat', 'x', x, { minRank: 1 });
  if (x.rank === 1) return tf.clone(x) as tf.Tensor1D;
  return tf.mean(x, Array.from({ length: x.rank - 1 }, (_, i) => i + 1)) as tf.Tensor1D;
}
