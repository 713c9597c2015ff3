import type * as tf from '@tensorflow/tfjs-core';
import { writeGeometry, type ConvGeometry } from './conv-geometry';
import type { BoundKernels, WasmBackendLike } from './module';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Floats of V and M one tile block may take (~384 KiB: within a core's L2 here). */
const BLOCK_FLOATS = 96 * 1024;

/** Tiles per block: as many as BLOCK_FLOATS allows for c + o channels, a multiple of 4, 8 to 256. */
function tileBlockFor(c: number, o: number): number {
  const padded = Math.ceil(c / 4) * 4 + Math.ceil(o / 8) * 8;
  return Math.max(8, Math.min(256, Math.floor(BLOCK_FLOATS / (16 * padded) / 4) * 4));
}

/** 2×2 output tiles of n images of oh × ow. */
function tileCount(n: number, oh: number, ow: number): number {
  return n * Math.ceil(oh / 2) * Math.ceil(ow / 2);
}

/**
 * Whether the conv `info` describes runs on Winograd F(2×2, 3×3)
 * (native/wasm-kernels/winograd.c): a 3×3 filter, stride 1, dilation 1. With any channel
 * counts it was faster than the im2col GEMM on one thread here (e.g. the RGB input conv
 * [8, 32, 32, 3]→64: 2.73 → 1.76 ms forward, 2.32 → 1.36 ms filter gradient; the output
 * conv 64→6: 4.49 → 2.48 ms forward), except an input gradient into fewer than 4
 * channels, which the caller keeps on col2im ({@link WINOGRAD_MIN_INPUT_GRADIENT_CHANNELS}).
 * @internal
 */
export function useWinograd(info: Conv2DInfo): boolean {
  return (
    info.filterHeight === 3 && info.filterWidth === 3 &&
    info.strideHeight === 1 && info.strideWidth === 1 &&
    info.dilationHeight === 1 && info.dilationWidth === 1
  );
}

/**
 * Channels of dx below which an input gradient stays on col2im: for dx [8, 32, 32, 3] from
 * 64 channels Winograd took 2.51 ms against col2im's 1.73 (an 8-wide panel 3/8 used, where
 * col2im's product has 9·3 columns); with 4 channels Winograd won (0.44 against 0.83 ms).
 * @internal
 */
export const WINOGRAD_MIN_INPUT_GRADIENT_CHANNELS = 4;

/**
 * The input gradient of the stride-1 3×3 conv `info` as a conv of dy: dx [N, H, W, C] is
 * dy [N, outH, outW, O] convolved with the filter turned 180° (channel axes swapped),
 * padded 2 − the forward padding.
 * @internal
 */
export function winogradGeometryOfInputGradient(info: Conv2DInfo): ConvGeometry {
  return [
    info.batchSize, info.outHeight, info.outWidth, info.outChannels,
    info.inHeight, info.inWidth, info.inChannels,
    3, 3, 1, 1, 1, 1,
    2 - info.padInfo.top, 2 - info.padInfo.left,
  ];
}

/**
 * Runs the conv `geometry` describes (3×3, stride 1) by Winograd F(2×2, 3×3): the filter
 * at heap offset `w` (HWIO [3, 3, c, o]; with `rotated`, the forward filter [3, 3, o, c]
 * of an input gradient) is transformed once, then tile blocks are split between threads.
 * Writes y [n, oh, ow, o] (+ bias [o] when `bias` is not 0) at heap offset `y`.
 * @internal
 */
export function winogradConv2d(
  kernels: BoundKernels, backend: WasmBackendLike, geometry: ConvGeometry,
  x: number, w: number, bias: number, y: number, rotated: boolean,
): void {
  const [n, , , c, oh, ow, o] = geometry;
  const tileBlock = tileBlockFor(c, o);
  const tiles = tileCount(n, oh, ow);
  const u = backend.wasm._malloc(kernels.exports.winograd_filter_floats(c, o) * 4) >>> 0;
  try {
    kernels.exports.winograd_filter(w, u, c, o, rotated ? 1 : 0);
    const work = kernels.work(kernels.exports.winograd_work_bytes(c, o, tileBlock));
    writeGeometry(kernels, work, geometry);
    const flops = 2 * 16 * tiles * c * o;
    kernels.run('winograd_conv2d', (i, begin, end) => [x, u, bias, y, work[i]!, tileBlock, begin, end], tiles, tileBlock, flops);
  } finally {
    backend.wasm._free(u);
  }
}

/**
 * The filter gradient dw [3, 3, c, o] of the stride-1 3×3 conv `geometry` describes, from
 * x [n, h, w, c] and dy [n, oh, ow, o] (heap offsets), as the adjoint of its Winograd form
 * (native/wasm-kernels/winograd_filter_grad.c): each thread adds its tile blocks' 16
 * products V[ξ]ᵀ·dM[ξ] into a dU of its own (zeroed here first), then every thread's
 * Gᵀ dU G is added into dw.
 * @internal
 */
export function winogradConv2dBackpropFilter(kernels: BoundKernels, geometry: ConvGeometry, x: number, dy: number, dw: number): void {
  const [n, , , c, oh, ow, o] = geometry;
  const tileBlock = tileBlockFor(c, o);
  const tiles = tileCount(n, oh, ow);
  const work = kernels.work(kernels.exports.winograd_filter_grad_work_bytes(c, o, tileBlock));
  writeGeometry(kernels, work, geometry);
  const duOffset = kernels.exports.winograd_filter_grad_du_offset(c, o, tileBlock);
  const duFloats = 16 * Math.ceil(c / 4) * 4 * Math.ceil(o / 8) * 8;
  for (const block of work) new Float32Array(kernels.memory.buffer, block + duOffset, duFloats).fill(0);
  kernels.run('winograd_filter_grad', (i, begin, end) => [x, dy, work[i]!, tileBlock, begin, end], tiles, tileBlock, 2 * 16 * tiles * c * o);
  work.forEach((block, i) => kernels.exports.winograd_filter_grad_finish(block, tileBlock, dw, i === 0 ? 1 : 0));
}
