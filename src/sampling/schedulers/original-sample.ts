import * as tf from '@tensorflow/tfjs-core';
import { f32 } from './float32';
import { thresholdSample } from './thresholding';

/** The config keys {@link predictOriginalSample} reads. @internal */
export interface OriginalSampleConfig {
  prediction_type: 'epsilon' | 'sample' | 'v_prediction';
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  clip_sample: boolean;
  clip_sample_range: number;
}

/**
 * x̂_0 from the model's output at ᾱ_t, as DDPM and LCM form it in diffusers:
 * `epsilon`: (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t; `sample`: the output itself;
 * `v_prediction`: √ᾱ_t·x_t − √(1−ᾱ_t)·v̂; then dynamic thresholding (`thresholding`) or
 * clipping to ±`clip_sample_range` (`clip_sample`). Float32 scalars as torch forms them.
 * Call inside a `tf.tidy`; the result may be `modelOutput` itself (`sample`, unclipped).
 *
 * @param config - the scheduler's config.
 * @param modelOutput - [B, ...] the model's prediction (its first C channels).
 * @param sample - [B, ...] x_t.
 * @param alphaProdT - ᾱ_t (float32).
 * @returns [B, ...] x̂_0.
 * @internal
 */
export function predictOriginalSample(config: OriginalSampleConfig, modelOutput: tf.Tensor, sample: tf.Tensor, alphaProdT: number): tf.Tensor {
  const sqrtAlpha = f32(Math.sqrt(alphaProdT));
  const sqrtBeta = f32(Math.sqrt(f32(1 - alphaProdT)));
  let x0: tf.Tensor;
  if (config.prediction_type === 'epsilon') x0 = tf.div(tf.sub(sample, tf.mul(modelOutput, sqrtBeta)), sqrtAlpha);
  else if (config.prediction_type === 'sample') x0 = modelOutput;
  else x0 = tf.sub(tf.mul(sample, sqrtAlpha), tf.mul(modelOutput, sqrtBeta));
  if (config.thresholding) return thresholdSample(x0, config.dynamic_thresholding_ratio, config.sample_max_value);
  if (config.clip_sample) return tf.clipByValue(x0, -config.clip_sample_range, config.clip_sample_range);
  return x0;
}
