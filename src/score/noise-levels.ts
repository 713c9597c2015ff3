import * as tf from '@tensorflow/tfjs-core';
import { BatchTimesteps } from '../diffusion/timesteps';
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
 * `batchSize` (the same rules as timesteps).
 * @internal
 */
export function checkSigmaIndices(
  fn: string,
  indices: unknown,
  numLevels: number,
  batchSize: number,
  dataArg: string,
): BatchTimesteps {
  return BatchTimesteps.resolve(fn, indices, numLevels, batchSize, dataArg, 'sigmaIndices');
}

/**
 * σ_{i_b} for every batch element as a float32 Tensor1D [B]: the only place the float64
 * table meets float32.
 * @internal
 */
export function gatherSigmas(indices: BatchTimesteps, table: Float64Array): tf.Tensor1D {
  return indices.gather(table, 1) as tf.Tensor1D;
}
