import * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel, GaussianDiffusion } from '../../src/index';

/** Data x_0 ~ N(μ, s²) in every dimension. */
export interface GaussianData {
  mu: number;
  s: number;
}

/**
 * The ideal model for Gaussian data: with x_t = α x_0 + σ ε (α = √ᾱ_t, σ = √(1 − ᾱ_t)),
 *
 *   x̂_0(x_t) = E[x_0 | x_t] = μ + α s²/(α² s² + σ²)·(x_t − α μ),
 *
 * returned as x̂_0 (`start_x`) or as ε = (x_t − α x̂_0)/σ (`epsilon`). `base` is the
 * unrespaced process (the model sees original timesteps); α and σ are taken from its
 * float64 table before the float32 cast, so σ stays accurate where ᾱ ≈ 1.
 * `dispose` frees the tables.
 */
export function gaussianDenoiser(
  base: GaussianDiffusion,
  { mu, s }: GaussianData,
  meanType: 'start_x' | 'epsilon',
): { model: DiffusionModel; dispose: () => void } {
  const alphas = tf.tensor1d(Float32Array.from(base.alphasCumprod, Math.sqrt));
  const sigmas = tf.tensor1d(Float32Array.from(base.alphasCumprod, (a) => Math.sqrt(1 - a)));
  const model: DiffusionModel = (x, t) =>
    tf.tidy(() => {
      const perBatch = [x.shape[0]!, ...new Array<number>(x.rank - 1).fill(1)];
      const a = tf.reshape(tf.gather(alphas, t), perBatch);
      const sigma = tf.reshape(tf.gather(sigmas, t), perBatch);
      const gain = tf.div(tf.mul(a, s * s), tf.add(tf.mul(tf.square(a), s * s), tf.square(sigma)));
      const x0 = tf.add(mu, tf.mul(gain, tf.sub(x, tf.mul(a, mu))));
      return meanType === 'start_x' ? x0 : tf.div(tf.sub(x, tf.mul(a, x0)), sigma);
    });
  return { model, dispose: () => tf.dispose([alphas, sigmas]) };
}

/**
 * What an exact probability-flow ODE solver returns for this data on `diffusion`'s
 * steps, in float64: the flow from step N−1 to step 0 keeps the standardised
 * coordinate (x_t − α_t μ)/√v_t fixed (v_t = α_t² s² + σ_t², the marginal variance; in
 * one dimension the flow is the monotone map between the two Gaussian marginals), and
 * the sample is x̂_0 at step 0:
 *
 *   x̂_0 = μ + α_0 s² (x_T − α_T μ) / √(v_0 v_T).
 *
 * Returned as the affine map x̂_0 = `gain`·x_T + `offset`.
 */
export function exactFlowSample(diffusion: GaussianDiffusion, { mu, s }: GaussianData): { gain: number; offset: number } {
  const last = diffusion.numTimesteps - 1;
  const abarT = diffusion.alphasCumprod[last]!;
  const abar0 = diffusion.alphasCumprod[0]!;
  const vT = abarT * s * s + 1 - abarT;
  const v0 = abar0 * s * s + 1 - abar0;
  const gain = (Math.sqrt(abar0) * s * s) / Math.sqrt(v0 * vT);
  return { gain, offset: mu - gain * Math.sqrt(abarT) * mu };
}

/**
 * diffusers' `DPMSolverMultistepScheduler` (`dpmsolver++`, `midpoint`,
 * `final_sigmas_type='zero'`) transcribed in float64 for this data, on the steps with
 * these ᾱ (ascending step order, ᾱ_0 first): a reference for the tensor sampler. Each
 * state is affine in x_T, so it is carried as [gain, offset]. `lowerOrderFinal`
 * makes the update into step 0 first order (diffusers' `lower_order_second`).
 */
export function referenceDpmSolver2M(
  alphasCumprod: ArrayLike<number>,
  { mu, s }: GaussianData,
  lowerOrderFinal: boolean,
): { gain: number; offset: number } {
  type Affine = [number, number];
  const n = alphasCumprod.length;
  // The target of the final update is σ = 0, α = 1 (index −1).
  const alphaT = (i: number): number => (i < 0 ? 1 : Math.sqrt(alphasCumprod[i]!));
  const sigmaT = (i: number): number => (i < 0 ? 0 : Math.sqrt(1 - alphasCumprod[i]!));
  const lambdaT = (i: number): number => Math.log(alphaT(i)) - Math.log(sigmaT(i));
  const dataPrediction = ([g, o]: Affine, i: number): Affine => {
    const [a, sigma] = [alphaT(i), sigmaT(i)];
    const k = (a * s * s) / (a * a * s * s + sigma * sigma);
    return [k * g, mu + k * (o - a * mu)];
  };
  const combine = (terms: Array<[number, Affine]>): Affine =>
    terms.reduce<Affine>(([g, o], [c, [tg, to]]) => [g + c * tg, o + c * to], [0, 0]);
  let sample: Affine = [1, 0];
  const modelOutputs: Affine[] = [];
  for (let s0 = n - 1; s0 >= 0; s0--) {
    const t = s0 - 1;
    modelOutputs.push(dataPrediction(sample, s0));
    const m0 = modelOutputs[modelOutputs.length - 1]!;
    const h = lambdaT(t) - lambdaT(s0);
    const firstOrder = modelOutputs.length === 1 || t === -1 || (lowerOrderFinal && t === 0);
    if (firstOrder) {
      // x_t = (σ_t/σ_s) x − α_t (e^{−h} − 1) D0
      sample = combine([
        [sigmaT(t) / sigmaT(s0), sample],
        [-alphaT(t) * (Math.exp(-h) - 1), m0],
      ]);
    } else {
      const m1 = modelOutputs[modelOutputs.length - 2]!;
      const s1 = s0 + 1;
      const r0 = (lambdaT(s0) - lambdaT(s1)) / h;
      const d1 = combine([
        [1 / r0, m0],
        [-1 / r0, m1],
      ]);
      // x_t = (σ_t/σ_s0) x − α_t (e^{−h} − 1) D0 − ½ α_t (e^{−h} − 1) D1
      sample = combine([
        [sigmaT(t) / sigmaT(s0), sample],
        [-alphaT(t) * (Math.exp(-h) - 1), m0],
        [-0.5 * alphaT(t) * (Math.exp(-h) - 1), d1],
      ]);
    }
  }
  return { gain: sample[0], offset: sample[1] };
}
