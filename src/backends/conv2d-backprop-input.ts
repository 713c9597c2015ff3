import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './kernel-tensors';

/**
 * `Conv2DBackpropInput` (the input gradient of `tf.conv2d`, i.e. `tf.conv2dTranspose`)
 * as ONE stride-1 forward convolution, for the wasm backend, whose own kernel is a
 * direct loop (~1.7 GFLOP/s) while its XNNPACK forward Conv2D runs at ~16-20 GFLOP/s.
 * This one runs at 9-17 GFLOP/s (5.7-10x faster; see wasm-training-kernels.ts).
 *
 * With strides (sh, sw), forward padding (top, left) and u = i + top, v = j + left,
 *
 *   dx[n, i, j, c] = Σ_{a, b, o} dy[n, (u − a)/sh, (v − b)/sw, o] · W[a, b, c, o]
 *
 * over the taps where (u − a) and (v − b) divide by the stride. Split u by its phase
 * φ = u mod sh (u = m·sh + φ, a = t·sh + φ): each phase is a plain correlation of dy
 * with the taps of that phase, rotated 180°. All sh·sw phases share one conv: its
 * filter has T = ⌈kh/sh⌉ × ⌈kw/sw⌉ taps (missing taps are zero) and sh·sw·C output
 * channels, one block per phase; a depth-to-space (reshape/transpose/reshape) then
 * interleaves the phases and a slice drops the top/left padding. At stride 1 this is
 * the textbook "conv with the 180°-rotated, in/out-swapped filter"; at stride 2 with a
 * 3x3 filter it does 16/9 of the minimal multiplies, against 4x for zero-inserting dy.
 *
 * The filter (small) is rearranged in JavaScript from a backend read: on wasm that
 * is a heap copy, not a device readback, and wasm's Reverse, GatherV2 and rank-6
 * Transpose each took longer than the arithmetic saved.
 *
 * Attributes are tfjs's `Conv2DBackpropInputAttrs`: any strides, padding 'same',
 * 'valid', a number or explicit, `dimRoundingMode`, NHWC or NCHW.
 *
 * Inputs: `dy` [N, outH, outW, O] (NHWC) and `filter` [kh, kw, C, O].
 * Output: dx with shape `inputShape` = [N, H, W, C], float32. Matches wasm's own kernel
 * and the cpu backend to float32 rounding (bit-identical to wasm's on the shapes tested).
 * @internal
 */
export const conv2dBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  return tf.tidy(() => {
    const kernelBackend = backend as tf.KernelBackend;
    let dy = asTensor(inputs.dy!, kernelBackend) as tf.Tensor4D;
    const filter = asTensor(inputs.filter!, kernelBackend) as tf.Tensor4D;
    const channelsFirst = dataFormat === 'NCHW';
    if (channelsFirst) dy = tf.transpose(dy, [0, 2, 3, 1]);
    const [batch, inHeight, inWidth, inChannels] = channelsFirst
      ? [inputShape[0], inputShape[2], inputShape[3], inputShape[1]]
      : inputShape;
    const info = tf.backend_util.computeConv2DInfo(
      [batch, inHeight, inWidth, inChannels],
      filter.shape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [kh, kw, , outChannels] = filter.shape;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    const { top, left } = info.padInfo;
    const [, outHeight, outWidth] = dy.shape;
    const tapsH = Math.ceil(kh / sh);
    const tapsW = Math.ceil(kw / sw);
    // Rows u = m·sh + φ of the padded input, m in [0, phaseRows), cover rows top..top+H−1.
    const phaseRows = Math.ceil((inHeight + top) / sh);
    const phaseCols = Math.ceil((inWidth + left) / sw);
    const phaseChannels = sh * sw * inChannels;

    const weights = Float32Array.from(kernelBackend.readSync(filter.dataId) as ArrayLike<number>);
    const phaseFilter = tf.tensor4d(phaseFilterValues(weights, kh, kw, inChannels, outChannels, sh, sw), [
      tapsH,
      tapsW,
      outChannels,
      phaseChannels,
    ]);
    const padBottom = Math.max(0, phaseRows - outHeight);
    const padRight = Math.max(0, phaseCols - outWidth);
    let phases = tf.conv2d(dy, phaseFilter, 1, [
      [0, 0],
      [tapsH - 1, padBottom],
      [tapsW - 1, padRight],
      [0, 0],
    ]);
    // Large bottom/right padding gives dy rows whose gradient lands in the padding only.
    if (phases.shape[1] !== phaseRows || phases.shape[2] !== phaseCols) {
      phases = tf.slice(phases, [0, 0, 0, 0], [batch, phaseRows, phaseCols, phaseChannels]);
    }
    let padded: tf.Tensor4D = phases;
    if (sh * sw > 1) {
      // Depth-to-space with block (sh, sw): [N, m, m', (φh, φw, c)] → [N, m·sh + φh, m'·sw + φw, c].
      // (wasm's DepthToSpace kernel is ~30x slower than this rank-6 transpose, which keeps c innermost.)
      const blocks = tf.reshape(phases, [batch, phaseRows, phaseCols, sh, sw, inChannels]);
      padded = tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [batch, phaseRows * sh, phaseCols * sw, inChannels]);
    }
    let dx = padded;
    if (top !== 0 || left !== 0 || padded.shape[1] !== inHeight || padded.shape[2] !== inWidth) {
      dx = tf.slice(padded, [0, top, left, 0], [batch, inHeight, inWidth, inChannels]);
    }
    return channelsFirst ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
  });
};

/**
 * The [T_h, T_w, O, sh·sw·C] filter of the phase conv above, from W [kh, kw, C, O]:
 * entry (t′, s′, o, φh, φw, c) is W[(T_h−1−t′)·sh + φh, (T_w−1−s′)·sw + φw, c, o], or 0
 * where that tap is past the filter's edge.
 */
function phaseFilterValues(
  weights: Float32Array,
  kh: number,
  kw: number,
  inChannels: number,
  outChannels: number,
  sh: number,
  sw: number,
): Float32Array {
  const tapsH = Math.ceil(kh / sh);
  const tapsW = Math.ceil(kw / sw);
  const out = new Float32Array(tapsH * tapsW * outChannels * sh * sw * inChannels);
  let k = 0;
  for (let ti = 0; ti < tapsH; ti++) {
    for (let tj = 0; tj < tapsW; tj++) {
      for (let o = 0; o < outChannels; o++) {
        for (let ph = 0; ph < sh; ph++) {
          const a = (tapsH - 1 - ti) * sh + ph;
          for (let pw = 0; pw < sw; pw++) {
            const b = (tapsW - 1 - tj) * sw + pw;
            if (a >= kh || b >= kw) {
              k += inChannels;
              continue;
            }
            const base = (a * kw + b) * inChannels * outChannels + o;
            for (let c = 0; c < inChannels; c++) out[k++] = weights[base + c * outChannels]!;
          }
        }
      }
    }
  }
  return out;
}
