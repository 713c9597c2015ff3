import * as tf from '@tensorflow/tfjs-core';

/**
 * The identity in the forward pass with a zero gradient: the `.detach()` of the
 * hybrid loss, which lets L_vlb train only the variance (Improved DDPM, §3.1).
 * tfjs has no stop-gradient op, so it is a custom gradient.
 * @internal
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const identityWithZeroGrad = tf.customGrad((input) => ({
    value: tf.clone(input as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return identityWithZeroGrad(x) as T;
}
