import * as tf from '@tensorflow/tfjs-core';
import { makeConv2D, makeConv2DBackpropFilter, makeConv2DBackpropInput, makeFusedConv2D } from './cpu-conv-kernels';
import { replaceKernel, restoreKernel } from './kernel-replacement';

const BACKEND = 'cpu';

/** Each replacement, made from the cpu kernel it displaces (its fallback). */
const FASTER_KERNELS: ReadonlyArray<readonly [string, (original: tf.KernelFunc) => tf.KernelFunc]> = [
  [tf.Conv2D, makeConv2D],
  [tf.FusedConv2D, makeFusedConv2D],
  [tf.Conv2DBackpropInput, makeConv2DBackpropInput],
  [tf.Conv2DBackpropFilter, makeConv2DBackpropFilter],
];

/**
 * Makes the tfjs cpu backend (tfjs-backend-cpu, plain JavaScript) fast enough to train a
 * small conv net, by replacing (for backend `'cpu'` only) its four conv2d kernels with
 * cache-blocked GEMMs over an indirection buffer (no im2col for the forward pass and the
 * input gradient; float64 accumulators in a 3-pixel × 4-channel register tile, the
 * innermost loop over contiguous channels; see cpu-conv-gemm.ts):
 *
 * - `Conv2D` — y [N, outH, outW, O] from x [N, H, W, C] and filter [kh, kw, C, O].
 * - `FusedConv2D` — the same + bias + activation (linear, relu, relu6, elu, sigmoid,
 *   leakyrelu with `leakyreluAlpha`, prelu with `preluActivationWeights`), bias and PReLU
 *   weights holding one value or one per output channel.
 * - `Conv2DBackpropInput` — dx [N, H, W, C] from dy and the filter (the gradient of
 *   conv2d, and tf.conv2dTranspose); pixels grouped by stride phase so each runs only
 *   the taps that reach it.
 * - `Conv2DBackpropFilter` — dW [kh, kw, C, O] from x and dy.
 *
 * Forward conv and input gradient run 3–6× faster than tfjs's, the filter gradient
 * 300–450× (a tiny U-Net train step: ~100 s → ~4 s); the measurements, per shape, are
 * in docs/benchmarks.md ("cpu conv kernels").
 *
 * Results equal tfjs's kernels to float32 rounding: our sums run in float64, tfjs's in
 * float32 (Conv2D) or float64 (the gradients), in another order (bounds in
 * test/backends/cpu-training-kernels.test.ts; the two gradients came out bit-identical
 * to tfjs's on every shape tested).
 *
 * Calls they do not cover go to the kernel they displaced, unchanged: NCHW, dilations
 * > 1, non-float32 or empty tensors, a bias / PReLU weight of any other shape. Any
 * strides and padding ('same', 'valid', a number, explicit, `dimRoundingMode`) and
 * batch sizes are covered.
 *
 * Idempotent: kernels already replaced are left alone. Import
 * `@tensorflow/tfjs-backend-cpu` first: only kernels already registered for 'cpu' can be
 * replaced (calling again afterwards does it). Before or after `tf.setBackend('cpu')`
 * both work. Undone by {@link unregisterCpuTrainingKernels}.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import '@tensorflow/tfjs-layers'; // registers the gradients
 *
 * registerCpuTrainingKernels();
 * await tf.setBackend('cpu');
 * ```
 */
export function registerCpuTrainingKernels(): void {
  for (const [kernelName, makeKernelFunc] of FASTER_KERNELS) replaceKernel(BACKEND, kernelName, (current) => makeKernelFunc(current.kernelFunc));
}

/**
 * Undoes {@link registerCpuTrainingKernels}: puts back the cpu kernels it replaced.
 * Kernels registered by anyone else are left alone. Idempotent.
 *
 * @example
 * ```ts
 * registerCpuTrainingKernels();
 * // ... train on 'cpu' ...
 * unregisterCpuTrainingKernels(); // tfjs's own Conv2D, FusedConv2D and conv2d gradients again
 * ```
 */
export function unregisterCpuTrainingKernels(): void {
  for (const [kernelName] of FASTER_KERNELS) restoreKernel(BACKEND, kernelName);
}
