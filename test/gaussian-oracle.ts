import * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel, GaussianDiffusion, ModelMeanType } from '../src/index';

/**
 * The exact denoiser for data x_0 ~ N(μ, s²) per dimension: with x_t = α x_0 + σ ε,
 * α = √ᾱ_t and σ = √(1 − ᾱ_t),
 *
 *   E[x_0 | x_t] = μ + α s² / (α² s² + σ²) · (x_t − α μ),
 *
 * returned as the prediction `meanType` asks for (ε = (x_t − α x̂_0)/σ,
 * v = α ε − σ x̂_0). `base` is the unrespaced process: the model sees original steps.
 * The returned `dispose` frees its table.
 */
export function gaussianOracle(
  base: GaussianDiffusion,
  mu: number,
  s: number,
  meanType: ModelMeanType = 'epsilon',
): { model: DiffusionModel; dispose: () => void } {
  const alphaBar = tf.tensor1d(Float32Array.from(base.alphasCumprod));
  const model: DiffusionModel = (x, t) =>
    tf.tidy(() => {
      const shape = [x.shape[0]!, ...new Array<number>(x.rank - 1).fill(1)];
      const ab = tf.reshape(tf.gather(alphaBar, tf.cast(t, 'int32')), shape);
      const a = tf.sqrt(ab);
      const sigma = tf.sqrt(tf.sub(1, ab));
      const gain = tf.div(tf.mul(a, s * s), tf.add(tf.mul(ab, s * s), tf.sub(1, ab)));
      const x0 = tf.add(mu, tf.mul(gain, tf.sub(x, tf.mul(a, mu))));
      if (meanType === 'start_x') return x0;
      const eps = tf.div(tf.sub(x, tf.mul(a, x0)), sigma);
      return meanType === 'v' ? tf.sub(tf.mul(a, eps), tf.mul(sigma, x0)) : eps;
    });
  return { model, dispose: () => alphaBar.dispose() };
}

/** Mean and standard deviation of all values of a tensor (a test-side readback). */
export function moments(x: tf.Tensor): { mean: number; std: number } {
  const v = Array.from(x.dataSync());
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  return { mean, std: Math.sqrt(variance) };
}
