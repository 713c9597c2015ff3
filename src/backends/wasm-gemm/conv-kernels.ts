import * as tf from '@tensorflow/tfjs-core';
import { kernelsFor, type BoundKernels, type WasmBackendLike } from './module';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Bytes of the ConvGeometry struct native/wasm-kernels/gemm.h reads from the start of `work`. */
const GEOMETRY_INTS = 15;

/**
 * Writes conv2d's geometry where the kernels read it (the start of the scratch block
 * `work`), in gemm.h's ConvGeometry order.
 */
function writeGeometry(kernels: BoundKernels, work: number, info: Conv2DInfo): void {
  new Int32Array(kernels.memory.buffer, work, GEOMETRY_INTS).set([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left,
  ]);
}

function isFloat32(...infos: Array<tf.TensorInfo | undefined>): boolean {
  return infos.every((t) => t === undefined || (t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) > 0));
}

/** The output tensor and the heap offsets of `inputs`, taken after the output is allocated. */
function output(backend: WasmBackendLike, shape: number[], inputs: Array<tf.TensorInfo | undefined>): [tf.TensorInfo, number, number[]] {
  const out = backend.makeOutput(shape, 'float32');
  return [out, backend.getMemoryOffset(out.dataId), inputs.map((t) => (t === undefined ? 0 : backend.getMemoryOffset(t.dataId)))];
}

/**
 * `Conv2D` and `FusedConv2D` (bias only, linear activation) on difflib's wasm GEMM:
 * y [N, outH, outW, O] = X̃ · W (+ bias), X̃ the im2col matrix [N·outH·outW, kh·kw·C] of
 * x [N, H, W, C] (never materialised) and W the filter [kh, kw, C, O] as [kh·kw·C, O].
 * Any strides, dilations and padding. NCHW, other activations, a bias that is not [O],
 * or a backend the kernels cannot bind to go to `fallback` (wasm's own kernel).
 * @internal
 */
export function gemmConv2d(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
    const kernels = kernelsFor(args.backend as tf.KernelBackend);
    const linear = attrs.activation === undefined || attrs.activation === 'linear';
    const biasOk = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === filter!.shape[3]);
    if (kernels === null || attrs.dataFormat === 'NCHW' || !linear || preluActivationWeights !== undefined || !biasOk || !isFloat32(x, filter, bias)) {
      return fallback(args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
    );
    const backend = args.backend as WasmBackendLike;
    const work = kernels.work(kernels.exports.gemm_work_bytes());
    const [out, y, [xp, wp, bp]] = output(backend, info.outShape, [x, filter, bias]);
    writeGeometry(kernels, work, info);
    kernels.exports.conv2d(xp!, wp!, bp!, y, work);
    return out;
  };
}

/**
 * `Conv2DBackpropFilter` on difflib's wasm GEMM: dW [kh, kw, C, O] = X̃ᵀ · dy, with x
 * [N, H, W, C] and dy [N, outH, outW, O] (X̃ as in {@link gemmConv2d}). NCHW or a
 * backend the kernels cannot bind to go to `fallback`.
 * @internal
 */
export function gemmConv2dBackpropFilter(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs;
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const kernels = kernelsFor(args.backend as tf.KernelBackend);
    if (kernels === null || attrs.dataFormat === 'NCHW' || !isFloat32(x, dy)) return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
    );
    const backend = args.backend as WasmBackendLike;
    const work = kernels.work(kernels.exports.gemm_work_bytes());
    const [out, dw, [xp, dyp]] = output(backend, [...attrs.filterShape], [x, dy]);
    writeGeometry(kernels, work, info);
    kernels.exports.conv2d_backprop_filter(xp!, dyp!, dw, work);
    return out;
  };
}

/**
 * `Conv2DBackpropInput` on difflib's wasm GEMM: dx [N, H, W, C] = col2im(dy · Wᵀ), the
 * rows of dy·Wᵀ [N·outH·outW, kh·kw·C] made a block at a time and each tap's C values
 * added to the input pixel that tap read. NCHW or a backend the kernels cannot bind to
 * go to `fallback`.
 * @internal
 */
export function gemmConv2dBackpropInput(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs;
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const kernels = kernelsFor(args.backend as tf.KernelBackend);
    if (kernels === null || attrs.dataFormat === 'NCHW' || !isFloat32(dy, filter)) return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter!.shape as [number, number, number, number],
      attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
    );
    const backend = args.backend as WasmBackendLike;
    const depth = info.filterHeight * info.filterWidth * info.inChannels;
    const work = kernels.work(kernels.exports.gemm_work_bytes() + kernels.exports.conv2d_backprop_input_extra_bytes(depth));
    const [out, dx, [dyp, wp]] = output(backend, [...attrs.inputShape], [dy, filter]);
    writeGeometry(kernels, work, info);
    kernels.exports.conv2d_backprop_input(dyp!, wp!, dx, work);
    return out;
  };
}
