import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';

/**
 * Which noise level each batch element uses: one index for the whole batch, one per
 * element as plain integers, or an int32 `Tensor1D` [B]. Indices point into the σ table
 * (0 is σ_1, the largest level). Plain integers are range-checked on the host; a tensor's
 * values stay on the device (reading them would stall a GPU), so only its dtype and
 * length are checked.
 */
export type SigmaIndicesInput = tf.Tensor1D | ArrayLike<number> | number;

/**
 * Copies a σ table into a Float64Array after checking every entry is finite and > 0,
 * and (for annealing, where σ_L must be the smallest) strictly decreasing.
 * @internal
 */
export function checkSigmas(fn: string, sigmas: unknown, { decreasing }: { decreasing: boolean }): Float64Array {
  if (!Array.isArray(sigmas) && !(ArrayBuffer.isView(sigmas) && !(sigmas instanceof DataView))) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'sigmas', `must be an array of numbers, got ${describeValue(sigmas)}`);
  }
  const raw = sigmas as ArrayLike<unknown>;
  if (raw.length === 0) throw new DifflibError('INVALID_ARGUMENT', fn, 'sigmas', 'must hold at least one level, got none');
  const table = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i];
    if (typeof s !== 'number' || !Number.isFinite(s) || !(s > 0)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'sigmas', `must be finite and > 0, got ${describeValue(s)} at index ${i}`);
    }
    if (decreasing && i > 0 && !(s < table[i - 1]!)) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'sigmas',
        `must be strictly decreasing (σ_1 > … > σ_L), got ${s} after ${table[i - 1]} at index ${i}`,
      );
    }
    table[i] = s;
  }
  return table;
}

/**
 * Validates sigma indices against a table of `numLevels` levels and a batch of
 * `batchSize`; plain integers come back as an Int32Array, a tensor as itself.
 * @internal
 */
export function checkSigmaIndices(
  fn: string,
  indices: unknown,
  numLevels: number,
  batchSize: number,
  dataArg: string,
): Int32Array | tf.Tensor1D {
  const arg = 'sigmaIndices';
  if (indices instanceof tf.Tensor) {
    if (indices.isDisposed) throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'is a disposed tensor');
    if (indices.rank !== 1) {
      throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must be a Tensor1D (one level per batch element), got rank ${indices.rank}`);
    }
    if (indices.dtype !== 'int32') {
      throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must hold integer levels (dtype int32), got dtype ${indices.dtype}`);
    }
    checkLength(fn, indices.shape[0], batchSize, dataArg);
    return indices as tf.Tensor1D;
  }
  if (typeof indices === 'number') {
    return new Int32Array(batchSize).fill(checkIndex(fn, indices, numLevels, ''));
  }
  if (!Array.isArray(indices) && !(ArrayBuffer.isView(indices) && !(indices instanceof DataView))) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      arg,
      `must be an integer, an array of integers or an int32 Tensor1D, got ${describeValue(indices)}`,
    );
  }
  const list = indices as ArrayLike<unknown>;
  checkLength(fn, list.length, batchSize, dataArg);
  return Int32Array.from({ length: list.length }, (_, b) => checkIndex(fn, list[b], numLevels, ` at index ${b}`));
}

/**
 * σ_{i_b} for every batch element as a float32 Tensor1D [B]: the only place the float64
 * table meets float32.
 * @internal
 */
export function gatherSigmas(indices: Int32Array | tf.Tensor1D, table: Float64Array): tf.Tensor1D {
  if (indices instanceof tf.Tensor) {
    return tf.tidy(() => tf.gather(tf.tensor1d(Float32Array.from(table), 'float32'), indices));
  }
  return tf.tensor1d(Float32Array.from(indices, (i) => table[i]!), 'float32');
}

function checkIndex(fn: string, v: unknown, numLevels: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'sigmaIndices', `must hold integers, got ${describeValue(v)}${where}`);
  }
  if (v < 0 || v >= numLevels) {
    throw new DifflibError('OUT_OF_RANGE', fn, 'sigmaIndices', `must lie in [0, ${numLevels - 1}], got ${v}${where}`);
  }
  return v;
}

function checkLength(fn: string, length: number, batchSize: number, dataArg: string): void {
  if (length !== batchSize) {
    throw new DifflibError('SHAPE_MISMATCH', fn, 'sigmaIndices', `has ${length} entries but ${dataArg} has batch ${batchSize}`);
  }
}
