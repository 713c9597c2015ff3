import type * as tf from '@tensorflow/tfjs-core';
import { writeGeometry, type ConvGeometry } from './conv-geometry';
import type { BoundKernels, WasmBackendLike } from './module';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/**
 * Input channels below which a 3×3 conv stays on the im2col GEMM: with few channels the
 * transforms cost more than the 2.25× fewer multiply-adds save (the RGB input conv).
 */
const MIN_CHANNELS = 16;
/** Floats of V and M one tile block may take (~384 KiB: within a core's L2 here). */
const BLOCK_FLOATS = 96 * 1024;

/**
 * Whether the conv `info` describes runs on Winograd F(2×2, 3×3)
 * (native/wasm-kernels/winograd.c): a 3×3 filter, stride 1, dilation 1, at least
 * MIN_CHANNELS input channels (for the input gradient, dy's channels: `inputs`).
 * @internal
 */
export function useWinograd(info: Conv2DInfo, inputs = info.inChannels): boolean {
  return (
    info.filterHeight === 3 && info.filterWidth === 3 &&
    info.strideHeight === 1 && info.strideWidth === 1 &&
    info.dilationHeight === 1 && info.dilationWidth === 1 &&
    inputs >= MIN_CHANNELS
  );
}

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
  const oPadded = Math.ceil(o / 8) * 8;
  const tileBlock = Math.max(8, Math.min(256, Math.floor(BLOCK_FLOATS / (16 * (c + oPadded)) / 4) * 4));
  const tiles = n * Math.ceil(oh / 2) * Math.ceil(ow / 2);
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
