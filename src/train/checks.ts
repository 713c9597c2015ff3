import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { shapeString } from '../validate';

/** Checks a non-empty list of distinct, live float32 variables. @internal */
export function checkVariables(fn: string, arg: string, variables: unknown): tf.Variable[] {
  if (!Array.isArray(variables) || variables.length === 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a non-empty array of tf.Variable, got ${describeValue(variables)}`);
  }
  variables.forEach((v, i) => {
    if (!(v instanceof tf.Variable) || v.isDisposed || v.dtype !== 'float32') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}[${i}]`, `must be a live float32 tf.Variable, got ${describeValue(v)}`);
    }
  });
  if (new Set(variables.map((v: tf.Variable) => v.name)).size !== variables.length) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'must not list a variable twice');
  }
  return variables as tf.Variable[];
}

/** Checks that `value` is a live float32 tensor shaped like `like`. @internal */
export function checkShapedLike(fn: string, arg: string, value: unknown, like: tf.Tensor): tf.Tensor {
  if (!(value instanceof tf.Tensor) || value.isDisposed) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a live tf.Tensor, got ${describeValue(value)}`);
  }
  if (value.dtype !== 'float32' || !tf.util.arraysEqual(value.shape, like.shape)) {
    throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must be float32 ${shapeString(like.shape)}, got ${value.dtype} ${shapeString(value.shape)}`);
  }
  return value;
}

/** Checks a list of tensors shaped like `like`, one for one. @internal */
export function checkTensorsLike(fn: string, arg: string, values: unknown, like: readonly tf.Tensor[]): tf.Tensor[] {
  if (!Array.isArray(values) || values.length !== like.length) {
    throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must be an array of ${like.length} tensors, got ${describeValue(values)}`);
  }
  return values.map((v, i) => checkShapedLike(fn, `${arg}[${i}]`, v, like[i]!));
}
