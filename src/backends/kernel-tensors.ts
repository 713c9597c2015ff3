import * as tf from '@tensorflow/tfjs-core';

/**
 * The tensor behind a kernel input. The engine hands kernels the op's own tensors,
 * so this is nearly always the identity; a bare TensorInfo (a backend calling the
 * kernel directly) is wrapped in a tensor that shares its data and owns one extra
 * reference, so disposing the wrapper (e.g. at the end of a tidy) leaves the
 * caller's data alive.
 * @internal
 */
export function asTensor(info: tf.TensorInfo, backend: tf.KernelBackend): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** `n` or `[n, n]` as a pair, for the strides/dilations attributes. @internal */
export function pair(value: number | [number, number] | undefined, fallback = 1): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}

/** tfjs's explicit NHWC padding: [[0, 0], [top, bottom], [left, right], [0, 0]]. @internal */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/** The `pad` argument of a conv op that pads H by (top, bottom) and W by (left, right). @internal */
export function spatialPadding(top: number, bottom: number, left: number, right: number): 'valid' | ExplicitPadding {
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return 'valid';
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}
