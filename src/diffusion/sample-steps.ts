import * as tf from '@tensorflow/tfjs-core';
import { standardNormal } from '../random-normal';
import { pMeanVarianceOf, predictEpsFromXStart, predictXStartFromEps, type Process } from './process';
import type { BatchTimesteps } from './timesteps';
import type { ModelCallOptions, SampleStep } from './types';

// The reverse steps of a {@link Process} (improved-diffusion's `p_sample`, `ddim_sample`,
// `ddim_reverse_sample`) from the model's output at x_t; they run inside a tidy on
// validated arguments. `gradient` is classifier guidance's ∇ log p(y | x_t), evaluated
// on demand.

/** Options of one step, resolved by the caller. @internal */
export interface StepInputs extends ModelCallOptions {
  noise?: tf.Tensor;
  seed?: number;
  gradient?: () => tf.Tensor;
}

/**
 * One ancestral step: x_{t−1} = μ_θ + [t ≠ 0]·exp(½ log Σ_θ)·z, with μ_θ ← μ_θ + Σ_θ·∇ under
 * guidance (guided-diffusion's `condition_mean`).
 * @internal
 */
export function pSampleOf(fn: string, p: Process, output: tf.Tensor, x: tf.Tensor, ts: BatchTimesteps, inputs: StepInputs): SampleStep {
  const out = pMeanVarianceOf(fn, p, output, x, ts, inputs);
  const mean = inputs.gradient ? tf.add(out.mean, tf.mul(out.variance, inputs.gradient())) : out.mean;
  const noise = inputs.noise ?? standardNormal(x.shape, inputs.seed);
  const nonzero = ts.gather(p.derived.nonzeroMask, x.rank);
  const sample = tf.add(mean, tf.mul(tf.mul(nonzero, tf.exp(tf.mul(0.5, out.logVariance))), noise));
  return { sample, predXStart: out.predXStart };
}

/**
 * One DDIM step (Song et al. 2021, eq. 12): x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1 − ᾱ_{t−1} − σ_t²) ε̂ +
 * [t ≠ 0] σ_t z, ε̂ re-derived from x̂_0; under guidance ε̂ ← ε̂ − √(1−ᾱ_t)·∇ and x̂_0 from it
 * (guided-diffusion's `condition_score`, unclipped).
 * @internal
 */
export function ddimSampleOf(fn: string, p: Process, output: tf.Tensor, x: tf.Tensor, ts: BatchTimesteps, eta: number, inputs: StepInputs): SampleStep {
  const out = pMeanVarianceOf(fn, p, output, x, ts, inputs);
  let eps = predictEpsFromXStart(p, x, ts, out.predXStart);
  let predXStart = out.predXStart;
  if (inputs.gradient) {
    eps = tf.sub(eps, tf.mul(ts.gather(p.sqrtOneMinusAlphasCumprod, x.rank), inputs.gradient()));
    predXStart = predictXStartFromEps(p, x, ts, eps);
  }
  const { epsCoef, noiseCoef } = p.derived.ddim(eta);
  const meanPred = tf.add(tf.mul(ts.gather(p.derived.sqrtAlphasCumprodPrev, x.rank), predXStart), tf.mul(ts.gather(epsCoef, x.rank), eps));
  if (eta === 0) return { sample: meanPred, predXStart };
  const noise = inputs.noise ?? standardNormal(x.shape, inputs.seed);
  return { sample: tf.add(meanPred, tf.mul(ts.gather(noiseCoef, x.rank), noise)), predXStart };
}

/** One deterministic DDIM step towards noise: x_{t+1} = √ᾱ_{t+1} x̂_0 + √(1 − ᾱ_{t+1}) ε̂. @internal */
export function ddimReverseSampleOf(fn: string, p: Process, output: tf.Tensor, x: tf.Tensor, ts: BatchTimesteps, options: ModelCallOptions): SampleStep {
  const out = pMeanVarianceOf(fn, p, output, x, ts, options);
  const eps = predictEpsFromXStart(p, x, ts, out.predXStart);
  const sample = tf.add(
    tf.mul(ts.gather(p.derived.sqrtAlphasCumprodNext, x.rank), out.predXStart),
    tf.mul(ts.gather(p.derived.sqrtOneMinusAlphasCumprodNext, x.rank), eps),
  );
  return { sample, predXStart: out.predXStart };
}
