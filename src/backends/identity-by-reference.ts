import type * as tf from '@tensorflow/tfjs-core';

/**
 * `Identity` (what `tf.clone` runs) as a new reference to the input's data instead of
 * a copy, as the cpu and webgl backends already do: tfjs tensors are immutable (a
 * variable's `assign` re-points the variable at new data), so sharing is safe, and the
 * backend frees the data when its last reference is disposed.
 *
 * On wasm this is where training spends its copies: tfjs-core clones every tensor a
 * gradient saves for the backward pass (`saveTensorsForBackwardMode`, customGrad's
 * `save`), so wasm's copying Identity duplicated most of a train step's activations —
 * 1237 copies per `small` benchmark step (~120 ms) and their memory.
 *
 * Input: `x` of any shape and numeric dtype. Output: the same data, shape and dtype.
 * String tensors (data outside wasm memory) go to `original`.
 *
 * @param original - wasm's own Identity kernelFunc.
 * @internal
 */
export function identityByReference(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return original(args);
    (args.backend as tf.KernelBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
