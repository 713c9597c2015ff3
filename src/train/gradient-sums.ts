import * as tf from '@tensorflow/tfjs-core';

/** g ← g + grads (microbatch accumulation), freeing what is replaced. @internal */
export function accumulate(sum: Record<string, tf.Tensor>, grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  for (const [name, g] of Object.entries(grads)) {
    const previous = sum[name];
    if (previous) {
      sum[name] = tf.add(previous, g);
      tf.dispose([previous, g]);
    } else {
      sum[name] = g;
    }
  }
  return sum;
}

/** The record with `f` applied to each tensor. @internal */
export function mapValues(record: Record<string, tf.Tensor>, f: (t: tf.Tensor) => tf.Tensor): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));
}
