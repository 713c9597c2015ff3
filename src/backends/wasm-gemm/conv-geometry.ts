import type * as tf from '@tensorflow/tfjs-core';
import type { BoundKernels } from './module';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/**
 * A conv's geometry in native/wasm-kernels/gemm.h's ConvGeometry order: input [n, h, w, c],
 * output [oh, ow, o], filter [kh, kw], strides, dilations, padding top and left.
 * @internal
 */
export type ConvGeometry = [
  n: number, h: number, w: number, c: number,
  oh: number, ow: number, o: number,
  kh: number, kw: number,
  sh: number, sw: number, dh: number, dw: number,
  pt: number, pl: number,
];

/** The geometry of the conv `info` describes. @internal */
export function geometryOf(info: Conv2DInfo): ConvGeometry {
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left,
  ];
}

/** Writes `geometry` where the kernels read it: the start of each thread's scratch block. @internal */
export function writeGeometry(kernels: BoundKernels, work: number[], geometry: ConvGeometry): void {
  for (const block of work) new Int32Array(kernels.memory.buffer, block, geometry.length).set(geometry);
}

/** Multiply-adds ×2 of a conv2d (and of each of its gradients). @internal */
export function convFlops(info: Conv2DInfo): number {
  return 2 * info.batchSize * info.outHeight * info.outWidth * info.outChannels * info.filterHeight * info.filterWidth * info.inChannels;
}
