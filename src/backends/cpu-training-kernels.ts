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
 * Measured with bench/cpu-conv.mjs (Node 20, tfjs-backend-cpu 4.22, one thread on a
 * shared 2-core AMD EPYC VM at 2.0 GHz; medians of 5 interleaved rounds), tfjs's kernel
 * → ours, 'same' padding:
 *
 * - [4,16,16,32] * 3x3x32x32 stride 1 (the tiny U-Net's convs): Conv2D 28 → 7.0 ms
 *   (0.67 → 2.7 GFLOP/s, 4.0x); FusedConv2D + bias + relu 34 → 7.1 ms (4.8x);
 *   Conv2DBackpropInput 28 → 6.6 ms (4.2x); Conv2DBackpropFilter 2577 → 7.6 ms (340x).
 * - [8,32,32,64] * 3x3x64x64 stride 1: Conv2D 1156 → 222 ms (5.2x); FusedConv2D 1208 →
 *   218 ms (5.5x); Conv2DBackpropInput 724 → 223 ms (3.2x); Conv2DBackpropFilter
 *   97 s → 243 ms (400x). At stride 2: 5.6x, 3.3x and 436x; 1x1: 5.2x, 3.2x and 365x.
 *
 * That is ~2.5-2.9 GFLOP/s for all three, about what scalar JavaScript reaches here (V8
 * emits no SIMD and checks the bounds and the map of every typed-array load; a wider
 * register tile spills): the forward conv and the input gradient, which tfjs runs at
 * 0.5-1 GFLOP/s, gain 3-6x, short of 20x; the filter gradient, which tfjs runs at
 * ~0.006 GFLOP/s (a TensorBuffer.get per multiply-add), gains 300-450x. Layers with
 * fewer than 4 channels on the GEMM's column side (an RGB or grayscale input's dx, a
 * 2-channel output conv) waste part of the 4-wide tile and gain less (the input
 * gradient of a 1-channel input runs up to ~2x slower than tfjs's; training never needs it).
 *
 * A train step of bench's tiny U-Net (16×16×1, 32 channels, batch 4): 99 s → 4.1-6.6 s
 * (15-24x, runs on the shared VM); its 25 Conv2DBackpropFilter calls 94 s → 0.19 s,
 * FusedConv2D 1.35 → 0.18 s, Conv2DBackpropInput 0.75 → 0.17 s per step, after which
 * the conv kernels are ~13% of the step (tfjs's elementwise kernels are the rest).
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
