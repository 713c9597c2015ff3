import * as tf from '@tensorflow/tfjs-core';
import { kernelsFor, type WasmBackendLike } from './module';

/**
 * `Sum` over leading axes on difflib's wasm kernels: x [d₀, …, d_{k−1}, rest…] summed over
 * axes 0…k−1 (0 < k < rank) is out[j] = Σ_i x[i, j] of x viewed as [rows, cols], read in
 * place. tfjs-backend-wasm's own Sum transposes the reduced axes to the end first: the
 * bias gradient of a dense layer on [1, 2048, 384] took 8.8 ms that way (a `small` train
 * step spent ~90 ms in such sums), 0.16 ms here (a conv bias gradient on [8, 32, 32, 64]: 1.39 → 0.10 ms). Rows are added in order, as wasm's own
 * kernel adds them, so the results are the same to the bit. Any other axes, dtypes,
 * empty tensors or a backend the kernels cannot bind to go to `fallback`.
 * @internal
 */
export function leadingAxesSum(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    const kernels = kernelsFor(args.backend as tf.KernelBackend);
    if (kernels === null || !leading || x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0) return fallback(args);
    const rest = x.shape.slice(axes.length);
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...rest] : rest, 'float32');
    const cols = tf.util.sizeFromShape(rest);
    kernels.exports.sum_rows(backend.getMemoryOffset(x.dataId), tf.util.sizeFromShape(x.shape) / cols, cols, backend.getMemoryOffset(out.dataId));
    return out;
  };
}
