import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { checkInteger, checkSeed, shapeString } from '../validate';
import { randomSeed, seededPermutation } from './permutation';

/** One batch made from a {@link HostDataset}: new tensors the caller owns (`tf.dispose(batch)`). */
export interface DataBatch<X extends tf.Tensor = tf.Tensor> extends tf.TensorContainerObject {
  /** The examples, [b, …exampleShape] float32. */
  x: X;
  /** Their class labels, [b] int32, when the dataset has labels. */
  labels?: tf.Tensor1D;
}

/** Options of {@link HostDataset.batches}. */
export interface BatchesOptions {
  /** Seed of the shuffle; epoch e is shuffled with seed + e. A fresh random seed when absent. */
  seed?: number;
  /** Passes over the data; `Infinity` for an endless stream. Default 1. */
  epochs?: number;
  /** Visit the examples in a new random order each epoch. Default true. */
  shuffle?: boolean;
  /** Skip an epoch's last batch when it has fewer than `batchSize` examples. Default false. */
  dropRemainder?: boolean;
}

/**
 * A dataset held on the host: all examples in one Float32Array, row-major
 * [N, …exampleShape], with optional int32 class labels [N]. Tensors are only made one
 * batch at a time, so a dataset of any size costs GPU memory for one batch.
 *
 * @example
 * ```ts
 * for (const batch of dataset.batches(64, { seed: 1, epochs: 10 })) {
 *   optimizer.minimize(() => tf.mean(diffusion.trainingLosses(model, batch.x, t).loss));
 *   tf.dispose(batch);
 * }
 * ```
 */
export class HostDataset<X extends tf.Tensor = tf.Tensor> {
  /** Every example, row-major [N, …exampleShape]. Do not mutate: batches copy from it. */
  readonly data: Float32Array;
  /** [N, …exampleShape]. */
  readonly shape: readonly number[];
  /** Class labels, [N], when the data has them. */
  readonly labels: Int32Array | undefined;

  /**
   * @param data - N examples, row-major [N, …exampleShape] (kept, not copied).
   * @param shape - [N, …exampleShape], every size a non-negative integer, rank ≥ 2.
   * @param labels - optional class labels [N].
   */
  constructor(data: Float32Array, shape: readonly number[], labels?: Int32Array) {
    const fn = 'HostDataset';
    if (!(data instanceof Float32Array)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'data', `must be a Float32Array, got ${describeValue(data)}`);
    }
    if (!Array.isArray(shape) || shape.length < 2 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'shape', `must be [N, ...] with non-negative integer sizes and rank >= 2, got ${describeValue(shape)}`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'data', `has ${data.length} values but shape ${shapeString(shape)} needs ${size}`);
    }
    if (labels !== undefined) {
      if (!(labels instanceof Int32Array)) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'labels', `must be an Int32Array, got ${describeValue(labels)}`);
      }
      if (labels.length !== shape[0]) {
        throw new DifflibError('SHAPE_MISMATCH', fn, 'labels', `has ${labels.length} entries but the data has ${shape[0]} examples`);
      }
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.labels = labels;
  }

  /** N, the number of examples. */
  get length(): number {
    return this.shape[0]!;
  }

  /** The shape of one example, e.g. [32, 32, 1]. */
  get exampleShape(): number[] {
    return this.shape.slice(1);
  }

  /**
   * The examples at `indices`, in that order, as new tensors.
   *
   * @param indices - example indices in [0, N).
   * @returns x [b, …exampleShape] float32 and, with labels, labels [b] int32.
   */
  batch(indices: ArrayLike<number>): DataBatch<X> {
    const fn = 'HostDataset.batch';
    if ((!Array.isArray(indices) && !(indices instanceof Int32Array)) || indices.length === 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'indices', `must be a non-empty number[] or Int32Array, got ${describeValue(indices)}`);
    }
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      if (!Number.isInteger(k) || k < 0 || k >= this.length) {
        throw new DifflibError('OUT_OF_RANGE', fn, 'indices', `must lie in [0, ${this.length}), got ${describeValue(k)} at position ${i}`);
      }
    }
    return this.gather(indices);
  }

  /**
   * `batchSize` distinct examples drawn uniformly at random (one partial shuffle).
   *
   * @param batchSize - b ≤ N.
   * @param options - `seed`: a fresh random seed when absent.
   * @returns x [b, …exampleShape] float32 and, with labels, labels [b] int32.
   */
  sampleBatch(batchSize: number, options: { seed?: number } = {}): DataBatch<X> {
    const fn = 'HostDataset.sampleBatch';
    checkInteger(fn, 'batchSize', batchSize, { min: 1 });
    if (batchSize > this.length) {
      throw new DifflibError('OUT_OF_RANGE', fn, 'batchSize', `must be at most the dataset's ${this.length} examples, got ${batchSize}`);
    }
    const seed = checkSeed(fn, 'options.seed', options.seed) ?? randomSeed();
    return this.gather(seededPermutation(this.length, seed).subarray(0, batchSize));
  }

  /**
   * Consecutive batches over the data, epoch after epoch. Each yielded batch is new
   * tensors the caller owns and disposes; breaking out of the loop leaks nothing.
   *
   * @param batchSize - examples per batch (the last of an epoch may have fewer).
   * @returns a generator of batches: x [b, …exampleShape] float32, labels [b] int32.
   */
  batches(batchSize: number, options: BatchesOptions = {}): Generator<DataBatch<X>, void, undefined> {
    const fn = 'HostDataset.batches';
    checkInteger(fn, 'batchSize', batchSize, { min: 1 });
    const epochs = options.epochs ?? 1;
    if (epochs !== Infinity) checkInteger(fn, 'options.epochs', epochs, { min: 1 });
    const seed = checkSeed(fn, 'options.seed', options.seed) ?? randomSeed();
    return this.iterate(batchSize, epochs, options.shuffle ?? true, options.dropRemainder ?? false, seed);
  }

  private *iterate(batchSize: number, epochs: number, shuffle: boolean, dropRemainder: boolean, seed: number): Generator<DataBatch<X>, void, undefined> {
    const n = this.length;
    const last = dropRemainder ? n - (n % batchSize) : n;
    if (last === 0) return;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffle ? seededPermutation(n, seed + epoch) : null;
      for (let start = 0; start < last; start += batchSize) {
        const end = Math.min(start + batchSize, last);
        yield this.gather(order ? order.subarray(start, end) : range(start, end));
      }
    }
  }

  private gather(indices: ArrayLike<number>): DataBatch<X> {
    const exampleShape = this.exampleShape;
    const rowSize = exampleShape.reduce((a, b) => a * b, 1);
    const b = indices.length;
    const rows = new Float32Array(b * rowSize);
    for (let i = 0; i < b; i++) {
      const k = indices[i]!;
      rows.set(this.data.subarray(k * rowSize, (k + 1) * rowSize), i * rowSize);
    }
    const x = tf.tensor(rows, [b, ...exampleShape], 'float32') as X;
    if (!this.labels) return { x };
    const labels = new Int32Array(b);
    for (let i = 0; i < b; i++) labels[i] = this.labels[indices[i]!]!;
    return { x, labels: tf.tensor1d(labels, 'int32') };
  }
}

function range(start: number, end: number): Int32Array {
  const out = new Int32Array(end - start);
  for (let i = 0; i < out.length; i++) out[i] = start + i;
  return out;
}
