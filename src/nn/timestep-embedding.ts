import * as tf from '@tensorflow/tfjs-core';
import { checkInteger } from '../validate';
import { DifflibError, describeValue } from '../errors';
import { sinCos } from './sincos';

/**
 * Sinusoidal timestep embedding (Vaswani et al. 2017, as improved-diffusion's
 * `timestep_embedding`): with half = ⌊dim/2⌋ and f_i = exp(−ln(maxPeriod)·i/half),
 *
 *   emb(t) = [cos(t·f_0), …, cos(t·f_{half−1}), sin(t·f_0), …, sin(t·f_{half−1})]
 *
 * plus a zero column when dim is odd. The frequencies are rounded step by step in
 * float32 exactly as the reference computes them, and sin/cos are evaluated to
 * float32 accuracy on every backend (see `sinCos`), so a model ported from PyTorch
 * sees the same embedding on WebGL too.
 *
 * @param t - [B] timesteps, int32 or float32 (rescaled timesteps are fractional).
 * @param dim - embedding width.
 * @param maxPeriod - the longest period; default 10000.
 * @returns [B, dim] float32.
 *
 * @example
 * ```ts
 * const emb = timestepEmbedding(tf.tensor1d([0, 500], 'int32'), 128); // [2, 128]
 * ```
 */
export function timestepEmbedding(t: tf.Tensor1D, dim: number, maxPeriod = 10000): tf.Tensor2D {
  const fn = 'timestepEmbedding';
  if (!(t instanceof tf.Tensor) || t.isDisposed) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 't', `must be a tf.Tensor1D, got ${describeValue(t)}`);
  }
  if (t.rank !== 1) throw new DifflibError('SHAPE_MISMATCH', fn, 't', `must be a Tensor1D, got rank ${t.rank}`);
  if (t.dtype !== 'int32' && t.dtype !== 'float32') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 't', `must have dtype int32 or float32, got ${t.dtype}`);
  }
  checkInteger(fn, 'dim', dim, { min: 1 });
  if (typeof maxPeriod !== 'number' || !(maxPeriod > 0) || !Number.isFinite(maxPeriod)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'maxPeriod', `must be a finite positive number, got ${describeValue(maxPeriod)}`);
  }
  const half = Math.floor(dim / 2);
  const negLogPeriod = Math.fround(-Math.log(maxPeriod));
  const freqs = Float32Array.from({ length: half }, (_, i) =>
    Math.fround(Math.exp(Math.fround(Math.fround(negLogPeriod * i) / half))),
  );
  return tf.tidy(() => {
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half]));
    const [sin, cos] = sinCos(args);
    const parts = [cos, sin];
    if (dim % 2 === 1) parts.push(tf.zeros([t.shape[0], 1]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  });
}

