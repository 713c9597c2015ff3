import * as tf from '@tensorflow/tfjs-core';

/**
 * Boolean mask `x > 0` that may sit on a gradient path: tfjs has no gradient for
 * Less/Greater and refuses to backpropagate through them, while Step (zero
 * gradient) and Cast have one. Use as the condition of `tf.where`.
 * @internal
 */
export function isPositive(x: tf.Tensor): tf.Tensor {
  return tf.cast(tf.step(x), 'bool');
}
