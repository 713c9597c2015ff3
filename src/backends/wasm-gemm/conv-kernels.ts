import * as tf from '@tensorflow/tfjs-core';
import { convFlops, geometryOf, writeGeometry } from './conv-geometry';
import { fill, kernelsFor, type WasmBackendLike } from './module';
import { useWinograd, WINOGRAD_MIN_INPUT_GRADIENT_CHANNELS, winogradConv2d, winogradConv2dBackpropFilter, winogradGeometryOfInputGradient } from './winograd';

/** Row shares are cut at multiples of the micro-kernel's 4 rows. */
const ROW_GRAIN = 4;

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
    const [out, y, [xp, wp, bp]] = output(backend, info.outShape, [x, filter, bias]);
    if (useWinograd(info)) return fill(backend, out, () => winogradConv2d(kernels, backend, geometryOf(info), xp!, wp!, bp!, y, false));
    const work = kernels.work(kernels.exports.gemm_work_bytes());
    writeGeometry(kernels, work, geometryOf(info));
    const pixels = info.batchSize * info.outHeight * info.outWidth;
    return fill(backend, out, () => kernels.run('conv2d', (i, begin, end) => [xp!, wp!, bp!, y, work[i]!, begin, end], pixels, ROW_GRAIN, convFlops(info)));
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
    const [out, dw, [xp, dyp]] = output(backend, [...attrs.filterShape], [x, dy]);
    if (useWinograd(info)) return fill(backend, out, () => winogradConv2dBackpropFilter(kernels, geometryOf(info), xp!, dyp!, dw));
    const work = kernels.work(kernels.exports.gemm_work_bytes());
    writeGeometry(kernels, work, geometryOf(info));
    const taps = info.filterHeight * info.filterWidth * info.inChannels;
    return fill(backend, out, () => kernels.run('conv2d_backprop_filter', (i, begin, end) => [xp!, dyp!, dw, work[i]!, begin, end], taps, ROW_GRAIN, convFlops(info)));
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
    const [out, dx, [dyp, wp]] = output(backend, [...attrs.inputShape], [dy, filter]);
    if (useWinograd(info) && info.inChannels >= WINOGRAD_MIN_INPUT_GRADIENT_CHANNELS) {
      return fill(backend, out, () => winogradConv2d(kernels, backend, winogradGeometryOfInputGradient(info), dyp!, wp!, 0, dx, true));
    }
    const depth = info.filterHeight * info.filterWidth * info.inChannels;
    const work = kernels.work(kernels.exports.gemm_work_bytes() + kernels.exports.conv2d_backprop_input_extra_bytes(depth));
    writeGeometry(kernels, work, geometryOf(info));
    // Split by image: an image's input pixels receive only its own output pixels' taps.
    return fill(backend, out, () => kernels.run('conv2d_backprop_input', (i, begin, end) => [dyp!, wp!, dx, work[i]!, begin, end], info.batchSize, 1, convFlops(info)));
  };
}
