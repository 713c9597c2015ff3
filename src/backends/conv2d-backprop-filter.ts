import * as tf from '@tensorflow/tfjs-core';
import { asTensor, spatialPadding } from './kernel-tensors';

/**
 * `Conv2DBackpropFilter` (the filter gradient of `tf.conv2d`) composed from kernels
 * the wasm backend has, for the wasm backend, which lacks it.
 *
 * With x̃ the input zero-padded as the forward conv padded it, strides (sh, sw) and
 * dilation 1,
 *
 *   dW[a, b, c, o] = Σ_{n, i, j} x̃[n, i·sh + a, j·sw + b, c] · dy[n, i, j, o].
 *
 * Read with c as the batch and n as the channel, that is itself a stride-1
 * convolution: input x̃ transposed to [C, H̃, W̃, N], filter dy transposed to
 * [outH, outW, N, O] and dilated by (sh, sw); its [C, kh, kw, O] output, transposed,
 * is dW. That runs on wasm's XNNPACK Conv2D: 60 ms (10 GFLOP/s) on [8,32,32,64] with
 * 3x3x64x64 at stride 1, 15 ms (10 GFLOP/s) at stride 2 (bench/wasm-conv.mjs; the
 * forward conv runs at ~19). An im2col + matMul measured 475 ms at stride 1 (wasm's
 * transposed-operand matMul runs at ~1.4 GFLOP/s) and 380 ms at stride 2 (wasm's
 * StridedSlice takes ~45 ms per tap there). 1x1 stride-1 unpadded filters, where the
 * conv is a plain GEMM, take a transpose + matMul instead (about 2x faster there).
 *
 * Attributes are tfjs's `Conv2DBackpropFilterAttrs`: any strides, padding 'same',
 * 'valid', a number or explicit, `dimRoundingMode`, NHWC or NCHW (x and dy are
 * transposed to NHWC first; dW's layout is the same for both). The kernel has no dilations attribute: tfjs refuses conv2d
 * gradients with dilation > 1 before reaching it.
 *
 * Inputs: `x` [N, H, W, C] (NHWC) and `dy` [N, outH, outW, O].
 * Output: dW with shape `filterShape` = [kh, kw, C, O], float32. All intermediates are
 * disposed before it returns.
 * @internal
 */
export const conv2dBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  return tf.tidy(() => {
    const kernelBackend = backend as tf.KernelBackend;
    let x = asTensor(inputs.x!, kernelBackend) as tf.Tensor4D;
    let dy = asTensor(inputs.dy!, kernelBackend) as tf.Tensor4D;
    if (dataFormat === 'NCHW') {
      x = tf.transpose(x, [0, 2, 3, 1]);
      dy = tf.transpose(dy, [0, 2, 3, 1]);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [kh, kw, inChannels, outChannels] = filterShape;
    const { top, bottom, left, right } = info.padInfo;
    const [batch] = x.shape;

    if (kh === 1 && kw === 1 && info.strideHeight === 1 && info.strideWidth === 1 && top + bottom + left + right === 0) {
      // A 1x1 conv is a GEMM over all N·H·W pixels: dW = xᵀ·dy with x as [C, M].
      const rows = batch * info.outHeight * info.outWidth;
      const xT = tf.reshape(tf.transpose(x, [3, 0, 1, 2]), [inChannels, rows]);
      return tf.reshape(tf.matMul(xT, tf.reshape(dy, [rows, outChannels])), filterShape);
    }

    const xAsBatch = tf.transpose(x, [3, 1, 2, 0]); // [C, H, W, N]
    const dyAsFilter = tf.transpose(dy, [1, 2, 0, 3]); // [outH, outW, N, O]
    const padding = spatialPadding(top, bottom, left, right);
    let dW = tf.conv2d(xAsBatch, dyAsFilter, 1, padding, 'NHWC', [info.strideHeight, info.strideWidth]);
    // Rows/columns past kh/kw exist when 'valid' or explicit padding leaves input the
    // forward conv never reached; they are not filter taps.
    if (dW.shape[1] !== kh || dW.shape[2] !== kw) {
      dW = tf.slice(dW, [0, 0, 0, 0], [inChannels, kh, kw, outChannels]);
    }
    return tf.transpose(dW, [1, 2, 0, 3]);
  });
};
