import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './kernel-tensors';

/**
 * `UnsortedSegmentSum` (what the gradient of `tf.gather`, e.g. an embedding lookup,
 * runs) composed from kernels the wasm backend has:
 *
 *   out[s, ...] = Σ_{k : segmentIds[k] = s} x[k, ...]
 *
 * as one `ScatterNd`, which adds updates that share an index. Ids outside
 * [0, numSegments) contribute nothing, as on the cpu backend (and as TensorFlow does
 * for negative ids); they are masked to a zero update at row 0 because wasm's
 * ScatterNd does not bounds-check.
 *
 * Attributes: `numSegments`.
 * Inputs: `x` [K₁, …, K_r, D…] and `segmentIds` [K₁, …, K_r] int32 (r ≥ 1; the op
 * passes r = 1).
 * Output: [numSegments, D…], x's dtype.
 * @internal
 */
export const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  return tf.tidy(() => {
    const kernelBackend = backend as tf.KernelBackend;
    const x = asTensor(inputs.x!, kernelBackend);
    const segmentIds = asTensor(inputs.segmentIds!, kernelBackend);
    const rows = segmentIds.size;
    const sliceShape = x.shape.slice(segmentIds.rank);
    const sliceSize = sliceShape.reduce((a, b) => a * b, 1);
    const ids = tf.reshape(tf.cast(segmentIds, 'int32'), [rows, 1]);
    const inRange = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, numSegments)); // [K, 1]
    const safeIds = tf.where(inRange, ids, tf.zerosLike(ids));
    const updates = tf.reshape(x, [rows, sliceSize]);
    const safeUpdates = tf.where(inRange, updates, tf.zerosLike(updates));
    const summed = tf.scatterND(safeIds, safeUpdates, [numSegments, sliceSize]);
    return tf.reshape(summed, [numSegments, ...sliceShape]);
  });
};
