import * as tf from '@tensorflow/tfjs-core';
import { DifflibError } from '../errors';
import { asTensor, pair, spatialPadding } from './kernel-tensors';

type DepthwiseAttrs = tf.DepthwiseConv2dNativeBackpropFilterAttrs | tf.DepthwiseConv2dNativeBackpropInputAttrs;

/**
 * tfjs's depthwise conv refuses strides > 1 together with dilations > 1, and so do its
 * gradients; the compositions below would need exactly that, so say so up front.
 */
function refuseStridedDilation(kernelName: string, attrs: DepthwiseAttrs): void {
  const [sh, sw] = pair(attrs.strides);
  const [dh, dw] = pair(attrs.dilations);
  if ((sh > 1 || sw > 1) && (dh > 1 || dw > 1)) {
    throw new DifflibError(
      'UNSATISFIABLE',
      kernelName,
      'dilations',
      `must be 1 when strides > 1 (wasm training kernel), got strides [${sh}, ${sw}] and dilations [${dh}, ${dw}]`,
    );
  }
}

/**
 * `DepthwiseConv2dNativeBackpropFilter` (filter gradient of `tf.depthwiseConv2d`)
 * composed from kernels the wasm backend has. With channel multiplier m and x̃ the
 * padded input,
 *
 *   dW[a, b, c, k] = Σ_{n, i, j} x̃[n, i·sh + a·dh, j·sw + b·dw, c] · dy[n, i, j, c·m + k],
 *
 * which is a depthwise conv of x̃ laid out as one image with N·C channels
 * ([1, H̃, W̃, N·C]) by dy laid out as an [outH, outW, N·C, m] filter, dilated by the
 * strides and strided by the dilations, followed by a sum over n.
 *
 * Attributes: tfjs's `DepthwiseConv2dNativeBackpropFilterAttrs` (NHWC only, as the op).
 * Strides > 1 together with dilations > 1 throw a DifflibError (`UNSATISFIABLE`).
 *
 * Inputs: `x` [N, H, W, C] and `dy` [N, outH, outW, C·m].
 * Output: dW with shape `filterShape` = [kh, kw, C, m], float32.
 * @internal
 */
export const depthwiseConv2dBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const kernelAttrs = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  refuseStridedDilation(tf.DepthwiseConv2dNativeBackpropFilter, kernelAttrs);
  const { strides, dilations, pad, dimRoundingMode, filterShape } = kernelAttrs;
  return tf.tidy(() => {
    const kernelBackend = backend as tf.KernelBackend;
    const x = asTensor(inputs.x!, kernelBackend) as tf.Tensor4D;
    const dy = asTensor(inputs.dy!, kernelBackend) as tf.Tensor4D;
    const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, dilations, pad, dimRoundingMode, true);
    const [kh, kw, channels, multiplier] = filterShape;
    const [batch, height, width] = x.shape;
    const { top, bottom, left, right } = info.padInfo;
    const image = tf.reshape<tf.Rank.R4>(tf.transpose(x, [1, 2, 0, 3]), [1, height, width, batch * channels]);
    const dyFilter = tf.reshape<tf.Rank.R4>(tf.transpose(dy, [1, 2, 0, 3]), [
      info.outHeight,
      info.outWidth,
      batch * channels,
      multiplier,
    ]);
    let taps = tf.depthwiseConv2d(
      image,
      dyFilter,
      [info.dilationHeight, info.dilationWidth],
      spatialPadding(top, bottom, left, right),
      'NHWC',
      [info.strideHeight, info.strideWidth],
    );
    if (taps.shape[1] !== kh || taps.shape[2] !== kw) {
      taps = tf.slice(taps, [0, 0, 0, 0], [1, kh, kw, batch * channels * multiplier]);
    }
    return tf.sum(tf.reshape(taps, [kh, kw, batch, channels, multiplier]), 2);
  });
};

/**
 * `DepthwiseConv2dNativeBackpropInput` (input gradient of `tf.depthwiseConv2d`)
 * composed from kernels the wasm backend has: dy is zero-stuffed by the strides
 * (sh − 1 zeros between rows, sw − 1 between columns), then correlated with the
 * filter rotated 180° (at the forward dilation), as a depthwise conv over the C·m
 * channels of dy; the m channels of each input channel are then summed:
 *
 *   dx[n, i, j, c] = Σ_k Σ_{a, b} dyₛ[n, i + top′ − a·dh, j + left′ − b·dw, c·m + k] · W[a, b, c, k].
 *
 * Attributes: tfjs's `DepthwiseConv2dNativeBackpropInputAttrs` (NHWC only, as the op).
 * Strides > 1 together with dilations > 1 throw a DifflibError (`UNSATISFIABLE`).
 *
 * Inputs: `dy` [N, outH, outW, C·m] and `filter` [kh, kw, C, m].
 * Output: dx with shape `inputShape` = [N, H, W, C], float32.
 * @internal
 */
export const depthwiseConv2dBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const kernelAttrs = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  refuseStridedDilation(tf.DepthwiseConv2dNativeBackpropInput, kernelAttrs);
  const { strides, dilations, pad, dimRoundingMode, inputShape } = kernelAttrs;
  return tf.tidy(() => {
    const kernelBackend = backend as tf.KernelBackend;
    const dy = asTensor(inputs.dy!, kernelBackend) as tf.Tensor4D;
    const filter = asTensor(inputs.filter!, kernelBackend) as tf.Tensor4D;
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, dilations, pad, dimRoundingMode, true);
    const [kh, kw, channels, multiplier] = filter.shape;
    const [batch, height, width] = inputShape;
    const [, outHeight, outWidth, dyChannels] = dy.shape;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    let stuffed: tf.Tensor4D = dy;
    if (sh * sw > 1) {
      const grid = tf.reshape(dy, [batch, outHeight, 1, outWidth, 1, dyChannels]);
      const zeros = tf.pad(grid, [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      stuffed = tf.reshape(zeros, [batch, outHeight * sh, outWidth * sw, dyChannels]);
    }
    // Padding of the stuffed dy that makes a stride-1 correlation land on dx's rows;
    // negative where explicit forward padding exceeds the dilated filter (cropped below).
    const extentH = (kh - 1) * info.dilationHeight + 1;
    const extentW = (kw - 1) * info.dilationWidth + 1;
    const padTop = extentH - 1 - info.padInfo.top;
    const padLeft = extentW - 1 - info.padInfo.left;
    const padBottom = height + extentH - 1 - padTop - stuffed.shape[1];
    const padRight = width + extentW - 1 - padLeft - stuffed.shape[2];
    const rotated = tf.reshape<tf.Rank.R4>(tf.reverse(filter, [0, 1]), [kh, kw, channels * multiplier, 1]);
    let perChannel = tf.depthwiseConv2d(
      stuffed,
      rotated,
      1,
      spatialPadding(Math.max(0, padTop), Math.max(0, padBottom), Math.max(0, padLeft), Math.max(0, padRight)),
      'NHWC',
      [info.dilationHeight, info.dilationWidth],
    );
    const rowStart = Math.max(0, -padTop);
    const colStart = Math.max(0, -padLeft);
    if (rowStart !== 0 || colStart !== 0 || perChannel.shape[1] !== height || perChannel.shape[2] !== width) {
      perChannel = tf.slice(perChannel, [0, rowStart, colStart, 0], [batch, height, width, dyChannels]);
    }
    if (multiplier === 1) return perChannel;
    return tf.sum(tf.reshape(perChannel, [batch, height, width, channels, multiplier]), 4);
  });
};
