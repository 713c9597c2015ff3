import * as tf from '@tensorflow/tfjs-core';
import { checkModelOutput as checkOutputShape } from '../validate';
import type { DiffusionTables } from './coefficients';
import type { BatchTimesteps } from './timesteps';
import type { LossType, ModelCallOptions, ModelMeanType, ModelVarType, PMeanVariance } from './types';

/**
 * The process as its computations see it: the float64 tables of improved-diffusion's
 * `GaussianDiffusion`, the parameterisation, and tables derived from them once. The
 * functions below (and in sample-steps.ts, objectives.ts) take it, run inside a tidy on
 * validated arguments, and gather per batch with a {@link BatchTimesteps}.
 * @internal
 */
export interface Process extends DiffusionTables {
  readonly numTimesteps: number;
  readonly modelMeanType: ModelMeanType;
  readonly modelVarType: ModelVarType;
  readonly lossType: LossType;
  readonly derived: DerivedTables;
}

/** Tables the sampling steps gather besides the reference's, computed once per process. @internal */
export interface DerivedTables {
  /** 1 − ᾱ_t. */
  readonly oneMinusAlphasCumprod: Float64Array;
  /** 1 where t ≠ 0: no noise is added on the last sampling step. */
  readonly nonzeroMask: Float64Array;
  /** √ᾱ_{t−1}. */
  readonly sqrtAlphasCumprodPrev: Float64Array;
  /** √ᾱ_{t+1} and √(1 − ᾱ_{t+1}), for DDIM inversion. */
  readonly sqrtAlphasCumprodNext: Float64Array;
  readonly sqrtOneMinusAlphasCumprodNext: Float64Array;
  /** DDIM's σ_t, √(1 − ᾱ_{t−1} − σ_t²) and the noise weight [t ≠ 0]·σ_t at one η, formed in float64 and cached per η. */
  ddim(eta: number): DdimTables;
}

/** DDIM's per-step coefficients at one η. @internal */
export interface DdimTables {
  readonly epsCoef: Float64Array;
  readonly noiseCoef: Float64Array;
}

/** {@link DerivedTables} of `t`. @internal */
export function deriveTables(t: DiffusionTables): DerivedTables {
  const ddimByEta = new Map<number, DdimTables>();
  return {
    oneMinusAlphasCumprod: t.alphasCumprod.map((a) => 1 - a),
    nonzeroMask: t.betas.map((_, i) => (i === 0 ? 0 : 1)),
    sqrtAlphasCumprodPrev: t.alphasCumprodPrev.map(Math.sqrt),
    sqrtAlphasCumprodNext: t.alphasCumprodNext.map(Math.sqrt),
    sqrtOneMinusAlphasCumprodNext: t.alphasCumprodNext.map((a) => Math.sqrt(1 - a)),
    ddim(eta) {
      let tables = ddimByEta.get(eta);
      if (tables === undefined) {
        const sigma = t.ddimSigmaAtEtaOne.map((s) => eta * s);
        tables = {
          epsCoef: t.alphasCumprodPrev.map((prev, i) => Math.sqrt(1 - prev - sigma[i]! ** 2)),
          noiseCoef: sigma.map((s, i) => (i === 0 ? 0 : s)),
        };
        ddimByEta.set(eta, tables);
      }
      return tables;
    },
  };
}

/** Whether the model's output carries a variance part (2C channels). @internal */
export function learnsVariance(p: Process): boolean {
  return p.modelVarType === 'learned' || p.modelVarType === 'learned_range';
}

/** x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε. @internal */
export function qSampleOf(p: Process, xStart: tf.Tensor, ts: BatchTimesteps, noise: tf.Tensor): tf.Tensor {
  const rank = xStart.rank;
  return tf.add(tf.mul(ts.gather(p.sqrtAlphasCumprod, rank), xStart), tf.mul(ts.gather(p.sqrtOneMinusAlphasCumprod, rank), noise));
}

/** μ̃_t = coef1·x_0 + coef2·x_t, the posterior mean of q(x_{t−1} | x_t, x_0). @internal */
export function posteriorMean(p: Process, xStart: tf.Tensor, xT: tf.Tensor, ts: BatchTimesteps): tf.Tensor {
  const rank = xStart.rank;
  return tf.add(tf.mul(ts.gather(p.posteriorMeanCoef1, rank), xStart), tf.mul(ts.gather(p.posteriorMeanCoef2, rank), xT));
}

/** x̂_0 = √(1/ᾱ) x_t − √(1/ᾱ − 1) ε. @internal */
export function predictXStartFromEps(p: Process, xT: tf.Tensor, ts: BatchTimesteps, eps: tf.Tensor): tf.Tensor {
  const rank = xT.rank;
  return tf.sub(tf.mul(ts.gather(p.sqrtRecipAlphasCumprod, rank), xT), tf.mul(ts.gather(p.sqrtRecipm1AlphasCumprod, rank), eps));
}

/**
 * ε̂ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t): improved-diffusion's (√(1/ᾱ_t) x_t − x̂_0) / √(1/ᾱ_t − 1)
 * with both parts multiplied by √ᾱ_t, so it stays finite (ε̂ = x_t) at a zero-terminal-SNR step.
 * @internal
 */
export function predictEpsFromXStart(p: Process, xT: tf.Tensor, ts: BatchTimesteps, predXStart: tf.Tensor): tf.Tensor {
  const rank = xT.rank;
  return tf.div(tf.sub(xT, tf.mul(ts.gather(p.sqrtAlphasCumprod, rank), predXStart)), ts.gather(p.sqrtOneMinusAlphasCumprod, rank));
}

/** Refuses a model output that is not [B, …, C] (or [B, …, 2C] with learned variances). @internal */
export function checkModelOutput(fn: string, p: Process, output: tf.Tensor, x: tf.Tensor): void {
  const channels = x.shape[x.rank - 1]!;
  const expected = learnsVariance(p) ? [...x.shape.slice(0, -1), 2 * channels] : x.shape;
  const why = learnsVariance(p) ? ` (modelVarType '${p.modelVarType}' needs 2C = ${2 * channels} channels: mean part, then variance part)` : '';
  checkOutputShape(fn, 'model output', output, expected, why);
}

/**
 * p_θ(x_{t−1} | x_t) = N(μ_θ, Σ_θ) and x̂_0 from the model's output: Σ_θ from
 * `modelVarType` (learned_range interpolates log β̃_t and log β_t with (v+1)/2), x̂_0 from
 * the mean part (then `denoisedFn` and clipping), μ_θ = μ̃_t(x̂_0, x_t) — or, for
 * x_{t−1}-prediction, μ_θ = the output and x̂_0 = (μ_θ − coef2·x_t)/coef1.
 * @internal
 */
export function pMeanVarianceOf(fn: string, p: Process, output: tf.Tensor, x: tf.Tensor, ts: BatchTimesteps, options: ModelCallOptions): PMeanVariance {
  checkModelOutput(fn, p, output, x);
  const rank = x.rank;
  let prediction = output;
  let variance: tf.Tensor;
  let logVariance: tf.Tensor;
  if (learnsVariance(p)) {
    const [meanPart, varValues] = tf.split(output, 2, -1) as [tf.Tensor, tf.Tensor];
    prediction = meanPart;
    if (p.modelVarType === 'learned') {
      logVariance = varValues;
    } else {
      // v ∈ [−1, 1] interpolates log β̃_t (v = −1) and log β_t (v = 1).
      const frac = tf.div(tf.add(varValues, 1), 2);
      logVariance = tf.add(tf.mul(frac, ts.gather(p.logBetas, rank)), tf.mul(tf.sub(1, frac), ts.gather(p.posteriorLogVarianceClipped, rank)));
    }
    variance = tf.exp(logVariance);
  } else {
    const [v, logV] = p.modelVarType === 'fixed_large' ? [p.fixedLargeVariance, p.fixedLargeLogVariance] : [p.posteriorVariance, p.posteriorLogVarianceClipped];
    variance = tf.broadcastTo(ts.gather(v, rank), x.shape);
    logVariance = tf.broadcastTo(ts.gather(logV, rank), x.shape);
  }
  const processXStart = (x0: tf.Tensor): tf.Tensor => {
    const denoised = options.denoisedFn ? options.denoisedFn(x0) : x0;
    return options.clipDenoised ?? true ? tf.clipByValue(denoised, -1, 1) : denoised;
  };
  if (p.modelMeanType === 'previous_x') {
    const predXStart = processXStart(
      tf.sub(tf.mul(ts.gather(p.recipPosteriorMeanCoef1, rank), prediction), tf.mul(ts.gather(p.posteriorMeanCoef2OverCoef1, rank), x)),
    );
    return { mean: prediction, variance, logVariance, predXStart };
  }
  const predXStart = processXStart(predictXStart(p, prediction, x, ts));
  return { mean: posteriorMean(p, predXStart, x, ts), variance, logVariance, predXStart };
}

/** x̂_0 from an ε-, x_0- or v-prediction (before clipping). */
function predictXStart(p: Process, prediction: tf.Tensor, xT: tf.Tensor, ts: BatchTimesteps): tf.Tensor {
  const rank = xT.rank;
  switch (p.modelMeanType) {
    case 'start_x':
      return prediction;
    case 'v': // x_0 = √ᾱ x_t − √(1−ᾱ) v
      return tf.sub(tf.mul(ts.gather(p.sqrtAlphasCumprod, rank), xT), tf.mul(ts.gather(p.sqrtOneMinusAlphasCumprod, rank), prediction));
    default:
      return predictXStartFromEps(p, xT, ts, prediction);
  }
}
