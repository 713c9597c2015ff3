import * as tf from '@tensorflow/tfjs-core';
import { batchMatMulOnGemm } from './batch-mat-mul';
import { conv2dBackpropFilter } from './conv2d-backprop-filter';
import { conv2dBackpropInput } from './conv2d-backprop-input';
import { depthwiseConv2dBackpropFilter, depthwiseConv2dBackpropInput } from './depthwise-conv2d-backprop';
import { addMissingKernel, replaceKernel, restoreKernel } from './kernel-replacement';
import { unsortedSegmentSum } from './unsorted-segment-sum';
import { heapConcat, heapSlice, heapSplitV } from './wasm-heap-slice';
import { sharedIdentity } from './wasm-shared-identity';
import { gemmConv2d, gemmConv2dBackpropFilter, gemmConv2dBackpropInput } from './wasm-gemm/conv-kernels';
import { ADAMW_KERNEL, adamWKernel } from './wasm-gemm/adamw-kernel';
import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, groupNormGradKernel, groupNormKernel } from './wasm-gemm/group-norm-kernels';
import { gemmBatchMatMul } from './wasm-gemm/matmul-kernels';
import { leadingAxesSum } from './wasm-gemm/sum-kernel';
import { selectWasmGemmFlavour, supportedWasmGemmFlavours, type WasmGemmFlavour } from './wasm-gemm/module';
import { DifflibError, describeValue } from '../errors';

const BACKEND = 'wasm';

/**
 * Gradient kernels tfjs-backend-wasm 4.22 lacks: without them `tf.grad` of a conv
 * net (conv2d's filter, depthwiseConv2d's filter and input) or of `tf.gather`
 * (embedding lookups) throws "Cannot find registered kernel ... for backend 'wasm'".
 * Registered only where wasm has no kernel of that name, so a future wasm release
 * that adds one keeps its own.
 */
const MISSING_KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [tf.Conv2DBackpropFilter, gemmConv2dBackpropFilter(conv2dBackpropFilter)],
  [tf.DepthwiseConv2dNativeBackpropFilter, depthwiseConv2dBackpropFilter],
  [tf.DepthwiseConv2dNativeBackpropInput, depthwiseConv2dBackpropInput],
  [tf.UnsortedSegmentSum, unsortedSegmentSum],
];

/**
 * difflib's own kernels, not tfjs's: GroupNorm fused with scale-shift and SiLU and its
 * gradient (native/wasm-kernels/group_norm.c), which `groupNorm` runs, and one AdamW
 * update of a variable (adamw.c), which `AdamW` runs, on wasm when they are registered
 * and difflib's wasm kernels are on.
 */
const FUSED_KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [GROUP_NORM_KERNEL, groupNormKernel],
  [GROUP_NORM_GRAD_KERNEL, groupNormGradKernel],
  [ADAMW_KERNEL, adamWKernel],
];

/**
 * Kernels wasm has but that run far slower than an equivalent built on its fast
 * (XNNPACK) kernels; each replaces wasm's own, made from it (BatchMatMul falls back to
 * it where it is already fast). Measured with bench/wasm-conv.mjs (Node 20,
 * tfjs-backend-wasm 4.22 non-threaded SIMD, 2-core VM, median of 10 interleaved rounds;
 * forward 3x3 Conv2D on the first shape: 32.5 ms, 18.6 GFLOP/s):
 *
 * - Conv2DBackpropInput, [8,32,32,64] input, 'same': 3x3x64x64 stride 1 361 → 42 ms
 *   (1.7 → 14.4 GFLOP/s, 8.6x); stride 2 91 → 16 ms (5.7x); 1x1 45.5 → 4.5 ms (10x);
 *   [8,16,16,128] 3x3x128x128 309 → 36 ms (8.6x). Bit-identical to wasm's kernel there.
 * - BatchMatMul: xᵀ·dy [8192,576]ᵀ·[8192,64] 400 → 45 ms (8.9x); dy·Wᵀ
 *   [8192,64]·[576,64]ᵀ 450 → 40 ms (11x); q·kᵀ [32,256,64]·[32,256,64]ᵀ 185 → 34 ms
 *   (5.4x); p·v [32,256,256]·[32,256,64] 180 → 41 ms (4.4x); pᵀ·dy 185 → 51 ms (3.6x).
 *   Within 4e-6 of wasm's kernel relative to the largest entry (summation order).
 */
const FASTER_KERNELS: ReadonlyArray<readonly [string, (original: tf.KernelConfig) => tf.KernelFunc]> = [
  [tf.Conv2DBackpropInput, () => gemmConv2dBackpropInput(conv2dBackpropInput)],
  [tf.BatchMatMul, (original) => gemmBatchMatMul(batchMatMulOnGemm(original.kernelFunc))],
  [tf.Conv2D, (original) => gemmConv2d(original.kernelFunc)],
  [tf.FusedConv2D, (original) => gemmConv2d(original.kernelFunc)],
  [tf._FusedMatMul, (original) => gemmBatchMatMul(original.kernelFunc)],
  [tf.Identity, (original) => sharedIdentity(original.kernelFunc)],
  [tf.Sum, (original) => leadingAxesSum(original.kernelFunc)],
  [tf.Slice, (original) => heapSlice(original.kernelFunc)],
  [tf.SplitV, (original) => heapSplitV(original.kernelFunc)],
  [tf.Concat, (original) => heapConcat(original.kernelFunc)],
];

/** Options of {@link registerWasmTrainingKernels}. */
export interface WasmTrainingKernelsOptions {
  /**
   * Which build of difflib's own wasm GEMM kernels runs conv2d, its two gradients and
   * the matrix products: `'auto'` (the fastest this engine supports: `'relaxed-simd'`,
   * else `'simd128'`, else `'off'`), `'relaxed-simd'`, `'simd128'`, or `'off'`
   * (tfjs-backend-wasm's XNNPACK kernels, with the composed gradients above). Absent:
   * the choice made by an earlier call, or `'auto'` the first time.
   */
  gemm?: WasmGemmFlavour | 'auto';
}

const GEMM_CHOICES: ReadonlyArray<WasmGemmFlavour | 'auto'> = ['auto', 'relaxed-simd', 'simd128', 'off'];

function checkOptions(options: unknown): WasmTrainingKernelsOptions {
  const fn = 'registerWasmTrainingKernels';
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an object { gemm? }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'gemm') throw new DifflibError('UNKNOWN_OPTION', fn, `options.${key}`, 'is not an option (expected: gemm)');
  }
  const { gemm } = options as WasmTrainingKernelsOptions;
  if (gemm !== undefined && !GEMM_CHOICES.includes(gemm)) {
    throw new DifflibError('UNKNOWN_OPTION', fn, 'options.gemm', `must be one of ${GEMM_CHOICES.map((c) => `'${c}'`).join(', ')}, got ${describeValue(gemm)}`);
  }
  if (gemm === 'relaxed-simd' || gemm === 'simd128') {
    const supported = supportedWasmGemmFlavours();
    if (!supported.includes(gemm)) {
      const hint = gemm === 'relaxed-simd' ? " (in Node 20 call enableWasmRelaxedSimd() from 'difflib/node' first)" : '';
      throw new DifflibError(
        'UNSATISFIABLE',
        fn,
        'options.gemm',
        `'${gemm}' is not supported by this JavaScript engine${hint}; supported: ${supported.length ? supported.map((c) => `'${c}'`).join(', ') : 'none'}`,
      );
    }
  }
  return { gemm };
}

/**
 * Makes the tfjs wasm backend able to train conv nets, and faster at it, by
 * registering kernels (for backend `'wasm'` only) built from kernels wasm already has:
 *
 * - `Conv2DBackpropFilter` — conv2d's filter gradient dW [kh, kw, C, O] from
 *   x [N, H, W, C] and dy [N, outH, outW, O], as a stride-1 conv of x by dy.
 * - `DepthwiseConv2dNativeBackpropFilter` / `DepthwiseConv2dNativeBackpropInput` —
 *   depthwiseConv2d's gradients dW [kh, kw, C, m] and dx [N, H, W, C].
 * - `UnsortedSegmentSum` — [numSegments, D…] sums of x's rows by segment id, as one
 *   ScatterNd (the gradient of `tf.gather`).
 * - `Conv2DBackpropInput` — conv2d's input gradient dx [N, H, W, C] from dy and the
 *   filter, as ONE forward conv with a rearranged filter plus a depth-to-space.
 *   REPLACES wasm's own kernel (~8.6x faster at stride 1, ~5.7x at stride 2).
 * - `BatchMatMul` — [...batch, M, N] products with a transposed operand or a batch
 *   (matMul's gradients, attention) as XNNPACK GEMMs or one depthwise conv instead of
 *   wasm's direct loop (3.6-11x faster); untransposed batch-1 products, which wasm
 *   already runs on XNNPACK, and small ones still go to wasm's kernel. REPLACES it.
 * - `Identity` — `tf.clone` and every tensor a gradient saves, as a second reference
 *   to x's data instead of wasm's copy. REPLACES it.
 * - `Slice`, `SplitV`, `Concat` — read x through a view of the heap, where wasm's own
 *   Slice first copies the whole of x out of it for every slice, and copy short runs
 *   element by element. REPLACE them.
 *
 * On top of those, difflib's own WebAssembly kernels (C in native/wasm-kernels, on wasm's
 * own heap) run `Conv2D`, `FusedConv2D` (bias, linear), `Conv2DBackpropFilter`,
 * `Conv2DBackpropInput`, `BatchMatMul` and `_FusedMatMul` (bias, linear) — a packed-panel
 * SGEMM that reads conv inputs as im2col matrices in place, or Winograd F(2×2, 3×3) for
 * 3×3 stride-1 convs and both their gradients — REPLACING wasm's kernels (and the composed
 * ones above, which remain their fallback for NCHW, other activations and dtypes), and
 * `Sum` over leading axes (bias gradients) without wasm's transpose. They add
 * `DifflibGroupNorm` and its gradient, which `groupNorm` runs for GroupNorm + scale-shift
 * + SiLU as one kernel each way, and `DifflibAdamW`, which `AdamW` runs for a variable's
 * update. A `small` U-Net train step runs ~5.6× and a forward pass ~3.5× faster than on
 * XNNPACK (docs/benchmarks.md). `options.gemm` picks the build: relaxed SIMD (fused
 * multiply-add; Chromium, or Node 20 after `enableWasmRelaxedSimd()` from
 * `difflib/node`), SIMD128, or `'off'`. With tfjs-backend-wasm's threaded build they
 * split large kernels between the calling thread and worker threads of their own
 * (Web Workers from a blob URL in browsers; `registerThreadedWasmBackend` provides Node's).
 *
 * Replaced kernels are kept and put back by {@link unregisterWasmTrainingKernels}.
 *
 * All support any strides, 'same'/'valid'/numeric/explicit padding and batch sizes,
 * dilation 1 (tfjs refuses dilated conv gradients itself; the depthwise kernels also
 * take dilations when strides are 1), NHWC (and NCHW for the conv2d ones); they
 * dispose every intermediate. Their results match the cpu backend to float32
 * rounding (see test/backends/wasm-training-kernels.test.ts and wasm-gemm-suite.ts
 * for the bounds).
 *
 * Idempotent: a kernel already there (ours, or wasm's own where it has one) is left
 * alone. Import `@tensorflow/tfjs-backend-wasm` first: the missing kernels are
 * registered either way, but wasm's Conv2DBackpropInput and BatchMatMul can only be
 * replaced once they are registered (calling again afterwards does it). Before or
 * after `tf.setBackend('wasm')` both work. The gradients themselves come from
 * `@tensorflow/tfjs-layers` (or `@tensorflow/tfjs`), not from tfjs-core alone.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-wasm';
 * import '@tensorflow/tfjs-layers'; // registers the gradients
 *
 * registerWasmTrainingKernels(); // or { gemm: 'off' } for tfjs's XNNPACK kernels
 * await tf.setBackend('wasm');
 * const w = tf.variable(tf.randomNormal<tf.Rank.R4>([3, 3, 4, 8]));
 * const x = tf.randomNormal<tf.Rank.R4>([2, 16, 16, 4]);
 * const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(x, w, 2, 'same')));
 * ```
 */
export function registerWasmTrainingKernels(options?: WasmTrainingKernelsOptions): void {
  const { gemm } = checkOptions(options);
  selectWasmGemmFlavour(gemm);
  for (const [kernelName, kernelFunc] of [...MISSING_KERNELS, ...FUSED_KERNELS]) addMissingKernel(BACKEND, kernelName, kernelFunc);
  for (const [kernelName, makeKernelFunc] of FASTER_KERNELS) replaceKernel(BACKEND, kernelName, makeKernelFunc);
}

/**
 * Undoes {@link registerWasmTrainingKernels}: removes the kernels it added and puts
 * back wasm's own kernels it replaced. Kernels registered by anyone else are left
 * alone. Idempotent.
 *
 * @example
 * ```ts
 * registerWasmTrainingKernels(); // createUNet also calls it
 * // ... train on 'wasm' ...
 * unregisterWasmTrainingKernels(); // wasm's own kernels again (and no conv2d filter gradient)
 * ```
 */
export function unregisterWasmTrainingKernels(): void {
  for (const [kernelName] of [...MISSING_KERNELS, ...FUSED_KERNELS, ...FASTER_KERNELS]) restoreKernel(BACKEND, kernelName);
}
