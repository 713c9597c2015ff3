import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { isPositive } from '../select';
import { checkSameShape, checkTensor } from '../validate';
import { cdfLogit, logSigmoid } from './gaussian-cdf';

/** Half the width of one 8-bit bin on data scaled to [−1, 1]. */
const HALF_BIN = 1 / 255;
/** The reference clamps every probability at 1e-12 before its log. */
const LOG_MIN_PROB = Math.log(1e-12);
/** √(2/π)·2: d a(x) / dx at 0, see {@link cdfLogit}. */
const TWO_SQRT_2_OVER_PI = 2 * Math.sqrt(2 / Math.PI);

/** Means and log standard deviations of the Gaussian that is discretised. */
export interface DiscretizedGaussianParams {
  /** μ, same shape as x. */
  means: tf.Tensor;
  /** log σ, same shape as x. */
  logScales: tf.Tensor;
}

/**
 * Log-likelihood (nats) of data discretised to 8-bit bins under a Gaussian — the
 * decoder L_0 of DDPM (Ho et al. 2020, eq. 13), element-wise:
 *
 *   log p(x) = log[Φ((x + 1/255 − μ)/σ) − Φ((x − 1/255 − μ)/σ)]     for −0.999 ≤ x ≤ 0.999
 *   log p(x) = log Φ((x + 1/255 − μ)/σ)                              for x < −0.999
 *   log p(x) = log[1 − Φ((x − 1/255 − μ)/σ)]                         for x > 0.999
 *
 * with Φ the tanh approximation ({@link approxStandardNormalCdf}) and every
 * probability clamped at 1e-12, as improved-diffusion does. The difference of CDFs
 * is evaluated in log space, σ(u) − σ(v) = σ(u)·σ(−v)·(1 − e^{−(u−v)}), with u − v
 * formed analytically: a literal Φ₊ − Φ₋ cancels to 0 in float32 once a bin's
 * probability falls near 1e-7, and is off by nats below.
 *
 * @param x - data in [−1, 1] on the 8-bit grid k/127.5 − 1 (256 levels), any shape.
 * @param params - `means` and `logScales`, each the shape of x.
 * @returns log-probabilities in nats, x's shape.
 *
 * @example
 * ```ts
 * const nll = tf.neg(discretizedGaussianLogLikelihood(x0, { means: mean, logScales: tf.mul(0.5, logVariance) }));
 * ```
 */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, params: DiscretizedGaussianParams): tf.Tensor {
  const fn = 'discretizedGaussianLogLikelihood';
  checkTensor(fn, 'x', x);
  if (!params || typeof params !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'params', `must be { means, logScales }, got ${describeValue(params)}`);
  }
  checkTensor(fn, 'params.means', params.means);
  checkTensor(fn, 'params.logScales', params.logScales);
  checkSameShape(fn, 'x', x, 'params.means', params.means);
  checkSameShape(fn, 'x', x, 'params.logScales', params.logScales);
  return tf.tidy(() => {
    const invStdv = tf.exp(tf.neg(params.logScales));
    const centered = tf.sub(x, params.means);
    const plusIn = tf.mul(invStdv, tf.add(centered, HALF_BIN));
    const minIn = tf.mul(invStdv, tf.sub(centered, HALF_BIN));
    const u = cdfLogit(plusIn);
    const v = cdfLogit(minIn);
    const logCdfPlus = logSigmoid(u);
    const logOneMinusCdfMin = logSigmoid(tf.neg(v));
    // u − v = 2√(2/π)·(p − m)·(1 + 0.044715(p² + pm + m²)), with p − m = 2σ⁻¹/255 exact.
    const uMinusV = tf.mul(
      tf.mul(invStdv, TWO_SQRT_2_OVER_PI * 2 * HALF_BIN),
      tf.add(1, tf.mul(0.044715, tf.addN([tf.square(plusIn), tf.mul(plusIn, minIn), tf.square(minIn)]))),
    );
    const logCdfDelta = tf.addN([logCdfPlus, logOneMinusCdfMin, log1MinusExpNeg(uMinusV)]);
    const clamp = (logP: tf.Tensor) => tf.maximum(logP, LOG_MIN_PROB);
    return tf.where(
      isPositive(tf.sub(-0.999, x)),
      clamp(logCdfPlus),
      tf.where(isPositive(tf.sub(x, 0.999)), clamp(logOneMinusCdfMin), clamp(logCdfDelta)),
    );
  });
}

/**
 * log(1 − e^{−d}) for d > 0. Below d = 0.01 the series d(1 − d/2 + d²/6) replaces
 * 1 − e^{−d}, whose float32 cancellation (and WebGL's naive expm1) would cost digits.
 */
function log1MinusExpNeg(d: tf.Tensor): tf.Tensor {
  const safe = tf.maximum(d, 1e-30);
  const series = tf.mul(safe, tf.add(1, tf.mul(safe, tf.sub(tf.div(safe, 6), 0.5))));
  const direct = tf.sub(1, tf.exp(tf.neg(safe)));
  return tf.log(tf.where(isPositive(tf.sub(0.01, safe)), series, direct));
}
