import * as tf from '@tensorflow/tfjs-core';
import { seededUniform } from '../random';
import type { LabelDropout } from './trainer-options';

/**
 * The labels with each one replaced by the null label with probability p: label i is
 * dropped exactly when u_i < p, u_0, u_1, … the uniform draws of mulberry32 from
 * `seed` (made on the host, like the timesteps, so every backend drops the same
 * labels). Only the [B] mask is uploaded; the labels are never read back.
 *
 * @param labels - [B] int32 labels (the caller keeps them).
 * @param seed - the step's `'labels'` seed.
 * @returns a new [B] int32 tensor.
 * @internal
 */
export function dropLabels(labels: tf.Tensor1D, { probability, nullLabel }: LabelDropout, seed: number): tf.Tensor1D {
  const random = seededUniform(seed);
  const dropped = Uint8Array.from({ length: labels.shape[0] }, () => (random() < probability ? 1 : 0));
  return tf.tidy(() => tf.where(tf.tensor1d(dropped, 'bool'), tf.fill(labels.shape, nullLabel, 'int32'), labels));
}
