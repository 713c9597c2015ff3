import * as tf from '@tensorflow/tfjs-core';
import { linspace } from '../../schedules/linspace';
import { f32, numpyArange, numpyInterp, roundHalfEven } from './float32';
import type { SchedulerStepOutput } from './scheduler';
import { karrasSigmas, sigmaToT } from './sigmas';
import type { TimestepSpacing } from './spacing';
import { thresholdSample } from './thresholding';

/**
 * The math the exponential-integrator solvers share (diffusers' DPM-Solver multistep and
 * singlestep, DEIS; UniPC uses the same pieces): a VP process seen through σ (sigma
 * space, x_t/α_t = x_0 + σ·ε), its α_t, σ_t and λ_t = log(α_t/σ_t), the timestep and σ
 * tables, the model-output conversion to x̂_0 or ε̂, and the first- and second-order
 * DPM-Solver updates. Host scalars are float32 exactly as torch computes them (0-d
 * float32 tensors, `f32` after every operation); tensor ops keep diffusers' order.
 * @internal
 */

/** diffusers' DPM-Solver `algorithm_type`s. */
export type DPMSolverAlgorithm = 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++' | 'sde-dpmsolver';

/** diffusers' second-order `solver_type`s of DPM-Solver. */
export type DPMSolverType = 'midpoint' | 'heun';

/** What a model predicts (diffusers' `prediction_type`). */
export type PredictionType = 'epsilon' | 'sample' | 'v_prediction';

/**
 * What a multistep solver's `step` returns: besides the next sample, the converted
 * model output it keeps in its history (x̂_0 for the data-prediction solvers
 * DPM-Solver++ and UniPC-x0, ε̂ for DPM-Solver and DEIS) and the order of the update it
 * ran. The caller owns both tensors (dispose them).
 */
export interface SolverStepOutput extends SchedulerStepOutput {
  /** The model output converted to what the solver integrates (diffusers' `model_outputs[-1]`). */
  convertedModelOutput: tf.Tensor;
  /** The order of the update this step ran (1, 2 or 3). */
  order: number;
}

// ---------------------------------------------------------------- scalars

/** α_t, σ_t and λ_t = log α_t − log σ_t of one noise level, float32. @internal */
export interface NoiseLevel {
  /** α_t = 1/√(σ² + 1). */
  alpha: number;
  /** σ_t = σ·α_t. */
  sigma: number;
  /** λ_t = log α_t − log σ_t (+∞ at σ = 0). */
  lambda: number;
}

/** `torch.exp` of a float32 scalar, correctly rounded (torch's SLEEF may be an ulp off). @internal */
export const expF32 = (x: number): number => f32(Math.exp(x));

/** `torch.log` of a float32 scalar, correctly rounded. @internal */
export const logF32 = (x: number): number => f32(Math.log(x));

/**
 * diffusers' `_sigma_to_alpha_sigma_t` and the λ every solver update takes from it, in
 * float32 as torch runs it: α = 1/√(σ·σ + 1), σ_t = σ·α, λ = log α − log σ_t.
 * σ = 0 gives α = 1, σ_t = 0, λ = +∞ (no NaN: h = +∞, e^{−h} = 0 downstream).
 * @param sigma - σ from a scheduler's float32 `sigmas`.
 * @internal
 */
export function noiseLevel(sigma: number): NoiseLevel {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  return { alpha, sigma: sigmaT, lambda: f32(logF32(alpha) - logF32(sigmaT)) };
}

// ---------------------------------------------------------------- tables

/**
 * diffusers' `lambda_min_clipped`: the count of training timesteps whose
 * λ_t = log √ᾱ_t − log √(1 − ᾱ_t) (float32) lies below `lambdaMin` is cut from the top
 * of the schedule; returns T minus that count (T for the default −∞).
 * @internal
 */
export function clippedLastTimestep(alphasCumprod: Float32Array, lambdaMin: number): number {
  let below = 0;
  for (const a of alphasCumprod) {
    const lambda = f32(logF32(f32(Math.sqrt(a))) - logF32(f32(Math.sqrt(f32(1 - a)))));
    if (lambda < lambdaMin) below++;
  }
  return alphasCumprod.length - below;
}

/**
 * The integer timesteps of the multistep solvers (diffusers' DPM-Solver multistep, DEIS,
 * UniPC), descending, which space N + 1 points and drop the last:
 * - `linspace`: round(linspace(0, last − 1, N + 1)) reversed, last dropped;
 * - `leading`: (N − i)·⌊last/(N + 1)⌋ + stepsOffset, i = 0..N−1;
 * - `trailing`: round(arange(last, 0, −T/N)) − 1 (N values when last = T, fewer below).
 * numpy's half-to-even rounding throughout; `last` is T unless λ is clipped.
 * @internal
 */
export function multistepTimesteps(spacing: TimestepSpacing, T: number, last: number, N: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return Array.from(linspace(0, last - 1, N + 1), roundHalfEven).reverse().slice(0, N);
  if (spacing === 'leading') {
    const ratio = Math.floor(last / (N + 1));
    return Array.from({ length: N }, (_, i) => (N - i) * ratio + stepsOffset);
  }
  return Array.from(numpyArange(last, 0, -T / N), (t) => roundHalfEven(t) - 1);
}

/** σ at integer timesteps: `np.interp(timesteps, arange(T), sigmas)` (clamped at the ends). @internal */
export function sigmasAtTimesteps(trainSigmas: Float32Array, timesteps: readonly number[]): Float64Array {
  return numpyInterp(timesteps, Float64Array.from(trainSigmas, (_, i) => i), trainSigmas);
}

/**
 * Karras et al. (2022) σs between the training σ_min and σ_max (float64, as numpy) and
 * their timesteps: the fractional inverse of the σ interpolation, rounded half to even
 * (`round`) or truncated toward zero (`trunc`, torch's int64 cast of unrounded values,
 * which diffusers' DPM-Solver multistep does for `squaredcos_cap_v2`).
 * @internal
 */
export function karrasSchedule(
  trainSigmas: Float32Array,
  logSigmas: Float32Array,
  N: number,
  toInteger: 'round' | 'trunc',
): { timesteps: number[]; sigmas: Float64Array } {
  const sigmas = karrasSigmas(trainSigmas[0]!, trainSigmas[trainSigmas.length - 1]!, N);
  const integer = toInteger === 'round' ? roundHalfEven : Math.trunc;
  return { timesteps: Array.from(sigmas, (s) => integer(sigmaToT(s, logSigmas))), sigmas };
}

// ---------------------------------------------------------------- model output

/** How {@link convertModelOutput} reads a model output. @internal */
export interface ConvertOptions {
  /** `data`: x̂_0 (DPM-Solver++, DEIS before ε); `noise`: ε̂ (DPM-Solver). */
  target: 'data' | 'noise';
  predictionType: PredictionType;
  /** A learned-variance model: keep the first C channels (the last axis) of an ε output with 2C. */
  learnedVariance: boolean;
  /** Dynamic thresholding of x̂_0 (`thresholding`), or null. */
  threshold: { ratio: number; maxValue: number } | null;
}

/**
 * diffusers' `convert_model_output` of the DPM-Solver family at one noise level:
 * x̂_0 = (x − σ_t ε̂)/α_t (ε), the output itself (`sample`), or α_t x − σ_t v (v); or
 * ε̂ = the output (ε), (x − α_t x̂_0)/σ_t (`sample`), α_t v + σ_t x (v). Thresholding
 * acts on x̂_0 (for the ε target: x̂_0 from ε̂, thresholded, ε̂ re-derived). May return
 * `modelOutput` itself; call inside a tidy.
 * @internal
 */
export function convertModelOutput(modelOutput: tf.Tensor, sample: tf.Tensor, level: NoiseLevel, o: ConvertOptions): tf.Tensor {
  const { alpha, sigma } = level;
  const out =
    o.learnedVariance && o.predictionType === 'epsilon' && modelOutput.shape[modelOutput.rank - 1] !== sample.shape[sample.rank - 1]
      ? tf.slice(modelOutput, new Array<number>(sample.rank).fill(0), sample.shape)
      : modelOutput;
  const threshold = (x0: tf.Tensor) => (o.threshold ? thresholdSample(x0, o.threshold.ratio, o.threshold.maxValue) : x0);
  if (o.target === 'data') {
    let x0: tf.Tensor;
    if (o.predictionType === 'epsilon') x0 = tf.div(tf.sub(sample, tf.mul(out, sigma)), alpha);
    else if (o.predictionType === 'sample') x0 = out;
    else x0 = tf.sub(tf.mul(sample, alpha), tf.mul(out, sigma));
    return threshold(x0);
  }
  let eps: tf.Tensor;
  if (o.predictionType === 'epsilon') eps = out;
  else if (o.predictionType === 'sample') eps = tf.div(tf.sub(sample, tf.mul(out, alpha)), sigma);
  else eps = tf.add(tf.mul(out, alpha), tf.mul(sample, sigma));
  if (!o.threshold) return eps;
  const x0 = threshold(tf.div(tf.sub(sample, tf.mul(eps, sigma)), alpha));
  return epsilonFromData(x0, sample, level);
}

/** ε̂ = (x − α_t x̂_0)/σ_t. @internal */
export function epsilonFromData(x0: tf.Tensor, sample: tf.Tensor, level: NoiseLevel): tf.Tensor {
  return tf.div(tf.sub(sample, tf.mul(x0, level.alpha)), level.sigma);
}

// ---------------------------------------------------------------- updates

/** The SDE variants' noise term σ_t·√(1 − e^{−2h}) (++) or σ_t·√(e^{2h} − 1). */
function noiseCoefficient(algorithm: DPMSolverAlgorithm, t: NoiseLevel, h: number): number {
  const root = algorithm === 'sde-dpmsolver++' ? Math.sqrt(f32(1 - expF32(f32(-2 * h)))) : Math.sqrt(f32(expF32(f32(2 * h)) - 1));
  return f32(t.sigma * f32(root));
}

/**
 * The first-order DPM-Solver update (DDIM in λ) from noise level s to t, h = λ_t − λ_s:
 * - `dpmsolver++`: x_t = (σ_t/σ_s) x − α_t (e^{−h} − 1) x̂_0;
 * - `dpmsolver`: x_t = (α_t/α_s) x − σ_t (e^{h} − 1) ε̂;
 * - `sde-dpmsolver++`: (σ_t/σ_s) e^{−h} x + α_t (1 − e^{−2h}) x̂_0 + σ_t √(1 − e^{−2h}) z;
 * - `sde-dpmsolver`: (α_t/α_s) x − 2σ_t (e^{h} − 1) ε̂ + σ_t √(e^{2h} − 1) z.
 * DEIS's first order is the `dpmsolver` one.
 * @param m - the converted model output at s.
 * @param noise - z, for the SDE variants.
 * @internal
 */
export function firstOrderUpdate(
  algorithm: DPMSolverAlgorithm,
  sample: tf.Tensor,
  m: tf.Tensor,
  t: NoiseLevel,
  s: NoiseLevel,
  noise?: tf.Tensor,
): tf.Tensor {
  const h = f32(t.lambda - s.lambda);
  switch (algorithm) {
    case 'dpmsolver++':
      return tf.sub(tf.mul(sample, f32(t.sigma / s.sigma)), tf.mul(m, f32(t.alpha * f32(expF32(-h) - 1))));
    case 'dpmsolver':
      return tf.sub(tf.mul(sample, f32(t.alpha / s.alpha)), tf.mul(m, f32(t.sigma * f32(expF32(h) - 1))));
    case 'sde-dpmsolver++': {
      const x = tf.add(tf.mul(sample, f32(f32(t.sigma / s.sigma) * expF32(-h))), tf.mul(m, f32(t.alpha * f32(1 - expF32(f32(-2 * h))))));
      return tf.add(x, tf.mul(noise!, noiseCoefficient(algorithm, t, h)));
    }
    default: {
      const x = tf.sub(tf.mul(sample, f32(t.alpha / s.alpha)), tf.mul(m, f32(2 * f32(t.sigma * f32(expF32(h) - 1)))));
      return tf.add(x, tf.mul(noise!, noiseCoefficient(algorithm, t, h)));
    }
  }
}

/**
 * The second-order DPM-Solver update from the noise level `base` to t, with
 * h = λ_t − λ_base, r0 = h0/h, D0 and D1 = (m0 − m1)/r0 (Lu et al. 2022, 2023):
 * `midpoint` takes ½ of the first-order coefficient for D1, `heun` its exact
 * integral ((e^{−h} − 1)/h + 1 for DPM-Solver++). Multistep: base = s0, D0 = m0,
 * h0 = λ_s0 − λ_s1; singlestep: base = s1, D0 = m1, same h0.
 * @param m0 - the newest converted output; `m1` the one before.
 * @internal
 */
export function secondOrderUpdate(
  algorithm: DPMSolverAlgorithm,
  solverType: DPMSolverType,
  sample: tf.Tensor,
  t: NoiseLevel,
  base: NoiseLevel,
  h: number,
  h0: number,
  d0: tf.Tensor,
  m0: tf.Tensor,
  m1: tf.Tensor,
  noise?: tf.Tensor,
): tf.Tensor {
  const r0 = f32(h0 / h);
  const d1 = tf.mul(tf.sub(m0, m1), f32(1 / r0));
  const heun = solverType === 'heun';
  if (algorithm === 'dpmsolver++') {
    const em1 = f32(expF32(-h) - 1);
    const c0 = f32(t.alpha * em1);
    const x = tf.sub(tf.mul(sample, f32(t.sigma / base.sigma)), tf.mul(d0, c0));
    return heun ? tf.add(x, tf.mul(d1, f32(t.alpha * f32(f32(em1 / h) + 1)))) : tf.sub(x, tf.mul(d1, f32(0.5 * c0)));
  }
  if (algorithm === 'dpmsolver') {
    const em1 = f32(expF32(h) - 1);
    const c0 = f32(t.sigma * em1);
    const x = tf.sub(tf.mul(sample, f32(t.alpha / base.alpha)), tf.mul(d0, c0));
    return tf.sub(x, tf.mul(d1, heun ? f32(t.sigma * f32(f32(em1 / h) - 1)) : f32(0.5 * c0)));
  }
  if (algorithm === 'sde-dpmsolver++') {
    const one = f32(1 - expF32(f32(-2 * h)));
    const c0 = f32(t.alpha * one);
    const c1 = heun ? f32(t.alpha * f32(f32(one / f32(-2 * h)) + 1)) : f32(0.5 * c0);
    const x = tf.add(tf.add(tf.mul(sample, f32(f32(t.sigma / base.sigma) * expF32(-h))), tf.mul(d0, c0)), tf.mul(d1, c1));
    return tf.add(x, tf.mul(noise!, noiseCoefficient(algorithm, t, h)));
  }
  const em1 = f32(expF32(h) - 1);
  const c1 = heun ? f32(2 * f32(t.sigma * f32(f32(em1 / h) - 1))) : f32(t.sigma * em1);
  const x = tf.sub(tf.sub(tf.mul(sample, f32(t.alpha / base.alpha)), tf.mul(d0, f32(2 * f32(t.sigma * em1)))), tf.mul(d1, c1));
  return tf.add(x, tf.mul(noise!, noiseCoefficient(algorithm, t, h)));
}

/**
 * The options the DPM-Solver family (DPM-Solver multistep and singlestep, DEIS, UniPC)
 * shares with the same defaults: the training schedule, the prediction type and dynamic
 * thresholding's quantile and ceiling.
 */
export interface SolverScheduleOptions {
  /** T, the training steps (1000). */
  numTrainTimesteps?: number;
  /** β_1 of `linear` / `scaled_linear` (0.0001). */
  betaStart?: number;
  /** β_T of `linear` / `scaled_linear` (0.02). */
  betaEnd?: number;
  /** `linear` (default), `scaled_linear` (Stable Diffusion) or `squaredcos_cap_v2` (cosine). */
  betaSchedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Betas to use instead of a named schedule. */
  trainedBetas?: ArrayLike<number> | null;
  /** What the model predicts: `epsilon` (default), `sample` (x_0) or `v_prediction`. */
  predictionType?: 'epsilon' | 'sample' | 'v_prediction';
  /** Quantile of |x̂_0| that thresholding scales by (0.995). */
  dynamicThresholdingRatio?: number;
  /** Largest threshold (1). */
  sampleMaxValue?: number;
}
