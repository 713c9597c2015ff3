import type * as tf from '@tensorflow/tfjs-core';

/** The reference counting of tfjs-backend-wasm's BackendWasm, which it exports no type for. */
interface RefCountingBackend extends tf.KernelBackend {
  incRef(dataId: tf.DataId): void;
}

/**
 * `Identity` on wasm without a copy: the output shares x's data, with one more reference
 * on it, as wasm's own `Reshape` (and the cpu and webgl backends' `Identity`) do. Tensors
 * are immutable, so sharing is safe. tfjs clones every tensor a gradient saves through
 * this kernel; wasm's own kernel copies each (1,436 copies in a `small` U-Net train step:
 * ~5% of its time). Strings go to `fallback` (wasm keeps them outside its heap).
 * @internal
 */
export function sharedIdentity(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return fallback(args);
    (args.backend as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
