import * as tf from '@tensorflow/tfjs-core';
import { kernelsFor, type WasmBackendLike } from './module';

/**
 * difflib's fused AdamW update (native/wasm-kernels/adamw.c): inputs `{ theta, g, m, v }`
 * (float32, one shape), attrs {@link AdamWKernelAttrs}; outputs `[θ', m', v']`.
 * @internal
 */
export const ADAMW_KERNEL = 'DifflibAdamW';

/** The update's scalars, as `AdamW.applyGradients` forms them in float64 (the kernel takes them as float32). @internal */
export interface AdamWKernelAttrs {
  beta1: number;
  beta2: number;
  /** √(1 − β₂ᵗ). */
  sqrtBiasCorrection2: number;
  epsilon: number;
  /** η/(1 − β₁ᵗ). */
  stepSize: number;
  /** 1 − ηλ. */
  decay: number;
}

/**
 * Whether {@link ADAMW_KERNEL} runs on the current backend: wasm, with it registered and
 * difflib's kernels on and bound to the backend's heap.
 * @internal
 */
export function adamWKernelAvailable(): boolean {
  return tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined && kernelsFor(tf.backend()) !== null;
}

/** {@link ADAMW_KERNEL} on wasm: one pass over the variable instead of ~13 kernels. @internal */
export const adamWKernel: tf.KernelFunc = (args) => {
  const { theta, g, m, v } = args.inputs;
  const a = args.attrs as unknown as AdamWKernelAttrs;
  const kernels = kernelsFor(args.backend as tf.KernelBackend);
  if (kernels === null) throw new Error(`${ADAMW_KERNEL}: difflib's wasm kernels are off or cannot bind to this backend`);
  const backend = args.backend as WasmBackendLike;
  const outs = [theta, m, v].map((t) => backend.makeOutput(t!.shape, 'float32'));
  const [to, mo, vo] = outs.map((t) => backend.getMemoryOffset(t.dataId));
  const [tp, gp, mp, vp] = [theta, g, m, v].map((t) => backend.getMemoryOffset(t!.dataId));
  // tfjs makes each scalar a float32 tensor: 1 − β is formed in float64 first, as there.
  kernels.exports.adamw(
    tp!, gp!, mp!, vp!, to!, mo!, vo!, tf.util.sizeFromShape(theta!.shape),
    a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.sqrtBiasCorrection2, a.epsilon, a.stepSize, a.decay,
  );
  return outs;
};
