import * as tf from '@tensorflow/tfjs-core';
import { f32 } from './float32';

/**
 * Dynamic thresholding (Saharia et al. 2022, Imagen), diffusers' `_threshold_sample`:
 * per batch element, s = clamp(quantile_p(|x̂_0|), 1, sampleMaxValue), then
 * x̂_0 ← clamp(x̂_0, −s, s)/s. The quantile is torch's: the order statistics at
 * rank r = p·(n − 1) (float32) around it, blended with torch's `lerp`. On the device,
 * by `topk`; nothing is read back.
 *
 * @param x - [B, ...] float32.
 * @param ratio - p, `dynamic_thresholding_ratio`.
 * @param sampleMaxValue - the largest s, `sample_max_value`.
 * @returns [B, ...], a new tensor.
 * @internal
 */
export function thresholdSample(x: tf.Tensor, ratio: number, sampleMaxValue: number): tf.Tensor {
  return tf.tidy(() => {
    const batch = x.shape[0]!;
    const flat = tf.abs(tf.reshape(x, [batch, -1]));
    const n = flat.shape[1]!;
    const rank = f32(f32(ratio) * (n - 1));
    const below = Math.floor(rank);
    const above = Math.ceil(rank);
    const weight = f32(rank - below);
    // The top n − below values, descending: ascending[below] is the last, ascending[above] the one before.
    const top = tf.topk(flat, n - below).values;
    const low = tf.slice(top, [0, n - 1 - below], [batch, 1]);
    const high = tf.slice(top, [0, n - 1 - above], [batch, 1]);
    // torch.lerp: start + w·(end − start) for w < 0.5, else end − (end − start)·(1 − w).
    const span = tf.sub(high, low);
    const quantile = weight < 0.5 ? tf.add(low, tf.mul(span, weight)) : tf.sub(high, tf.mul(span, f32(1 - weight)));
    const s = tf.clipByValue(quantile, 1, sampleMaxValue);
    const shape = [batch, ...new Array<number>(x.rank - 1).fill(1)];
    const sb = tf.reshape(s, shape);
    return tf.div(tf.minimum(tf.maximum(x, tf.neg(sb)), sb), sb);
  });
}
