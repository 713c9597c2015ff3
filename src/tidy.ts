import * as tf from '@tensorflow/tfjs-core';

/**
 * `tf.tidy` for functions that return a typed result object: tfjs types its result
 * as a `TensorContainer`, which an interface without an index signature is not.
 * @internal
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}
