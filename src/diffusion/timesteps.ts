import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';

/**
 * Timesteps for a batch: one integer for every element (`number`, as in a sampling
 * loop), one per element as plain integers (`number[]`, `Int32Array`), or an int32
 * `Tensor1D`. Plain integers are range-checked on the host and their coefficients
 * gathered from the float64 tables there; a tensor's values stay on the device
 * (reading them would stall a GPU), so only its dtype and length are checked and the
 * gather runs on the device.
 */
export type TimestepsInput = tf.Tensor1D | ArrayLike<number> | number;

/**
 * Validated timesteps of one batch, and the per-batch gather of float64 tables
 * into float32 tensors (the only place a table meets float32).
 * @internal
 */
export class BatchTimesteps {
  private constructor(
    readonly batchSize: number,
    private readonly host: Int32Array | null,
    private readonly device: tf.Tensor1D | null,
  ) {}

  /**
   * @param fn - calling function, for messages.
   * @param t - the timesteps (or any per-example index into a table).
   * @param numTimesteps - T: valid steps are 0 … T−1.
   * @param batchSize - B of the data tensor the timesteps go with.
   * @param dataArg - name of that data argument, for messages.
   * @param arg - name of the timesteps argument, for messages.
   */
  static resolve(fn: string, t: unknown, numTimesteps: number, batchSize: number, dataArg: string, arg = 't'): BatchTimesteps {
    if (t instanceof tf.Tensor) {
      if (t.isDisposed) throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'is a disposed tensor');
      if (t.rank !== 1) {
        throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must be a Tensor1D (one per batch element), got rank ${t.rank}`);
      }
      if (t.dtype !== 'int32') {
        throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must hold integers (dtype int32), got dtype ${t.dtype}`);
      }
      checkLength(fn, arg, t.shape[0], batchSize, dataArg);
      return new BatchTimesteps(batchSize, null, t as tf.Tensor1D);
    }
    if (typeof t === 'number') {
      checkStep(fn, arg, t, numTimesteps, '');
      return BatchTimesteps.constant(t, batchSize);
    }
    if (!isArrayLike(t)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be an integer, an array of integers or an int32 Tensor1D, got ${describeValue(t)}`);
    }
    checkLength(fn, arg, t.length, batchSize, dataArg);
    const host = new Int32Array(t.length);
    for (let b = 0; b < t.length; b++) host[b] = checkStep(fn, arg, t[b], numTimesteps, ` at index ${b}`);
    return new BatchTimesteps(batchSize, host, null);
  }

  /** The same step for every element of a batch of `batchSize`. */
  static constant(t: number, batchSize: number): BatchTimesteps {
    return new BatchTimesteps(batchSize, new Int32Array(batchSize).fill(t), null);
  }

  /**
   * `table[t_b]` for every batch element, as float32 of shape [B, 1, …, 1] (rank
   * `rank`) so it broadcasts over the non-batch axes of rank-`rank` data.
   */
  gather(table: ArrayLike<number>, rank: number): tf.Tensor {
    const shape = [this.batchSize, ...new Array<number>(Math.max(rank - 1, 0)).fill(1)];
    if (this.host) {
      const values = new Float32Array(this.batchSize);
      this.host.forEach((t, b) => (values[b] = table[t]!));
      return tf.tensor(values, shape, 'float32');
    }
    return tf.tidy(() => tf.reshape(tf.gather(tf.tensor1d(Float32Array.from(table), 'float32'), this.device!), shape));
  }

  /** `table[t_b]` as an int32 Tensor1D. */
  gatherInt(table: ArrayLike<number>): tf.Tensor1D {
    if (this.host) return tf.tensor1d(Int32Array.from(this.host, (t) => table[t]!), 'int32');
    return tf.tidy(() => tf.gather(tf.tensor1d(Int32Array.from(table), 'int32'), this.device!));
  }

  /** Boolean Tensor1D, true where t_b = 0. */
  isFirstStep(): tf.Tensor1D {
    if (this.host) return tf.tensor1d(Array.from(this.host, (t) => t === 0), 'bool');
    return tf.equal(this.device!, tf.scalar(0, 'int32'));
  }
}

function checkStep(fn: string, arg: string, v: unknown, numTimesteps: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must hold integers, got ${describeValue(v)}${where}`);
  }
  if (v < 0 || v >= numTimesteps) {
    throw new DifflibError('OUT_OF_RANGE', fn, arg, `must lie in [0, ${numTimesteps - 1}], got ${v}${where}`);
  }
  return v;
}

function checkLength(fn: string, arg: string, length: number, batchSize: number, dataArg: string): void {
  if (length !== batchSize) {
    throw new DifflibError('SHAPE_MISMATCH', fn, arg, `has ${length} entries but ${dataArg} has batch ${batchSize}`);
  }
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}
