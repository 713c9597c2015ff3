import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from './errors';

/**
 * Argument checks for tensors, run before any tensor is made so that a refused call
 * leaks nothing. Each names the function and the argument in its message.
 * @internal
 */
export function checkTensor(
  fn: string,
  arg: string,
  value: unknown,
  { minRank = 0, dtype = 'float32' }: { minRank?: number; dtype?: tf.DataType | null } = {},
): tf.Tensor {
  if (!(value instanceof tf.Tensor)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a tf.Tensor, got ${describeValue(value)}`);
  }
  if (value.isDisposed) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'is a disposed tensor');
  }
  if (value.rank < minRank) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      arg,
      `must have rank >= ${minRank} (batch first), got shape ${shapeString(value.shape)}`,
    );
  }
  if (dtype !== null && value.dtype !== dtype) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must have dtype ${dtype}, got ${value.dtype}`);
  }
  return value;
}

/** Checks that two tensors have identical shapes. @internal */
export function checkSameShape(fn: string, argA: string, a: tf.Tensor, argB: string, b: tf.Tensor): void {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      argB,
      `has shape ${shapeString(b.shape)} but ${argA} has shape ${shapeString(a.shape)}`,
    );
  }
}

/** `[2,4,4,3]` for messages. @internal */
export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
