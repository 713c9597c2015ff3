import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, attributeErrors, describeValue } from '../errors';
import { checkWasmGradientKernels, gradientTapeLength } from '../backends/wasm-gradient-check';
import { discretizedGaussianLogLikelihood } from '../losses/discretized-gaussian';
import { meanFlat } from '../losses/mean-flat';
import { normalKl } from '../losses/normal-kl';
import { NoiseSchedule, type Respacing } from '../schedules/noise-schedule';
import { checkSameShape, checkTensor, shapeString } from '../tensor-checks';
import { computeTables, type DiffusionTables } from './coefficients';
import { stopGradient } from './stop-gradient';
import { checkLoopArguments, finalSample, runSteps } from '../step-loop';
import { diffusionDriver } from './sample-driver';
import type { DdimSampleLoopOptions, SampleLoopOptions, SampleLoopStep } from './sample-loop-options';
import type {
  CalcBpdLoopOptions,
  CondFn,
  DdimReverseSampleOptions,
  DdimSampleOptions,
  GaussianDiffusionOptions,
  PSampleOptions,
  QSampleOptions,
  TrainingLossesOptions,
} from './options';
import { BatchTimesteps, type TimestepsInput } from './timesteps';
import {
  LOSS_TYPES,
  MODEL_MEAN_TYPES,
  MODEL_VAR_TYPES,
  type BpdLoopResult,
  type DiffusionModel,
  type GaussianMoments,
  type LossType,
  type ModelCallOptions,
  type ModelKwargs,
  type ModelMeanType,
  type ModelVarType,
  type PMeanVariance,
  type SampleStep,
  type TrainingLosses,
  type VbTerms,
} from './types';
import { standardNormal } from '../random-normal';

const LN2 = Math.log(2);

/**
 * The Gaussian diffusion process of DDPM with every extension of Improved DDPM
 * (Nichol & Dhariwal 2021): learned variances, the hybrid loss, the variational
 * bound in bits/dim, timestep respacing and DDIM. A port of improved-diffusion's
 * `GaussianDiffusion` / `SpacedDiffusion` on TensorFlow.js, equal to it on its
 * reference cases.
 *
 * Data is channels-last, [B, …, C]; timesteps hold one step per batch element.
 * Every per-step coefficient lives in a float64 table and is only turned into a
 * float32 tensor when gathered for a batch. Methods return new tensors the caller
 * owns, never dispose their inputs, and leak nothing.
 *
 * @example
 * ```ts
 * const diffusion = new GaussianDiffusion({
 *   betas: namedBetaSchedule('cosine', 4000),
 *   modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse',
 * });
 * const { loss } = diffusion.trainingLosses(model, x0, [12, 3999]);
 * ```
 */
export class GaussianDiffusion implements DiffusionTables {
  /** T, the number of steps of this (possibly respaced) process. */
  readonly numTimesteps: number;
  /** T of the process before respacing. */
  readonly originalNumTimesteps: number;
  /** For each step of this process, the original step passed to the model. */
  readonly timestepMap: readonly number[];
  /** The (possibly respaced) schedule this process was built from. */
  readonly schedule: NoiseSchedule;
  /** What the model predicts. */
  readonly modelMeanType: ModelMeanType;
  /** How the reverse variance is obtained. */
  readonly modelVarType: ModelVarType;
  /** The training objective of {@link trainingLosses}. */
  readonly lossType: LossType;
  /** Whether the model sees timesteps scaled to [0, 1000) (float32) instead of integer steps. */
  readonly rescaleTimesteps: boolean;

  declare readonly betas: Float64Array;
  declare readonly alphasCumprod: Float64Array;
  declare readonly alphasCumprodPrev: Float64Array;
  declare readonly alphasCumprodNext: Float64Array;
  declare readonly sqrtAlphasCumprod: Float64Array;
  declare readonly sqrtOneMinusAlphasCumprod: Float64Array;
  declare readonly logOneMinusAlphasCumprod: Float64Array;
  declare readonly sqrtRecipAlphasCumprod: Float64Array;
  declare readonly sqrtRecipm1AlphasCumprod: Float64Array;
  declare readonly posteriorVariance: Float64Array;
  declare readonly posteriorLogVarianceClipped: Float64Array;
  declare readonly posteriorMeanCoef1: Float64Array;
  declare readonly posteriorMeanCoef2: Float64Array;
  declare readonly logBetas: Float64Array;
  declare readonly fixedLargeVariance: Float64Array;
  declare readonly fixedLargeLogVariance: Float64Array;
  declare readonly recipPosteriorMeanCoef1: Float64Array;
  declare readonly posteriorMeanCoef2OverCoef1: Float64Array;
  declare readonly ddimSigmaAtEtaOne: Float64Array;

  /** The timestep value handed to the model for each step (mapped, and rescaled if asked). */
  private readonly modelTimesteps: Float64Array;

  /**
   * Builds the process and every float64 coefficient table from its betas.
   * @param options - the schedule (`betas` or `schedule`, optionally respaced by
   *   `useTimesteps`) and the model's parameterisation.
   */
  constructor(options: GaussianDiffusionOptions) {
    const fn = 'GaussianDiffusion';
    if (!options || typeof options !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an options object, got ${describeValue(options)}`);
    }
    this.modelMeanType = checkEnum(fn, 'options.modelMeanType', options.modelMeanType, MODEL_MEAN_TYPES);
    this.modelVarType = checkEnum(fn, 'options.modelVarType', options.modelVarType, MODEL_VAR_TYPES);
    this.lossType = checkEnum(fn, 'options.lossType', options.lossType, LOSS_TYPES);
    this.rescaleTimesteps = options.rescaleTimesteps ?? false;
    const schedule = resolveSchedule(fn, options);
    if (schedule.numTimesteps < 2) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.betas', `must hold at least 2 steps, got ${schedule.numTimesteps}`);
    }
    this.schedule = schedule;
    this.numTimesteps = schedule.numTimesteps;
    this.originalNumTimesteps = schedule.originalNumTimesteps;
    this.timestepMap = schedule.timestepMap;
    Object.assign(this, computeTables(schedule.betas));
    const scale = this.rescaleTimesteps ? Math.fround(1000 / this.originalNumTimesteps) : 1;
    // float32(t) · float32(1000/T), as the reference computes it in float32.
    this.modelTimesteps = Float64Array.from(this.timestepMap, (t) => Math.fround(t * scale));
  }

  /**
   * The same process on fewer steps, for faster sampling with the same model:
   * improved-diffusion's `SpacedDiffusion` over this process's schedule (a respaced
   * process can be respaced again; the model still sees original timesteps).
   *
   * @param respacing - `"ddimN"`, `"a,b,c"` section counts, counts, or `{ useTimesteps }`.
   * @returns a new GaussianDiffusion with the same parameterisation.
   *
   * @example
   * ```ts
   * const fast = diffusion.respace('ddim50'); // 50 steps of a 4000-step model
   * ```
   */
  respace(respacing: Respacing): GaussianDiffusion {
    return new GaussianDiffusion({
      schedule: attributeErrors('GaussianDiffusion.respace', 'respacing', () => this.schedule.respace(respacing)),
      modelMeanType: this.modelMeanType,
      modelVarType: this.modelVarType,
      lossType: this.lossType,
      rescaleTimesteps: this.rescaleTimesteps,
    });
  }

  /**
   * q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I).
   *
   * @param xStart - x_0, [B, …].
   * @param t - one step per batch element.
   * @returns mean, variance and log-variance, each [B, …].
   */
  qMeanVariance(xStart: tf.Tensor, t: TimestepsInput): GaussianMoments {
    const ts = this.begin('qMeanVariance', 'xStart', xStart, t);
    return tf.tidy(() => {
      const rank = xStart.rank;
      return {
        mean: tf.mul(ts.gather(this.sqrtAlphasCumprod, rank), xStart),
        variance: tf.broadcastTo(ts.gather(this.alphasCumprod.map((a) => 1 - a), rank), xStart.shape),
        logVariance: tf.broadcastTo(ts.gather(this.logOneMinusAlphasCumprod, rank), xStart.shape),
      };
    });
  }

  /**
   * Samples q(x_t | x_0): x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.
   *
   * @param xStart - x_0, [B, …].
   * @param t - one step per batch element.
   * @param noise - ε, x_0's shape; drawn from N(0, I) when absent.
   * @returns x_t, [B, …].
   */
  qSample(xStart: tf.Tensor, t: TimestepsInput, noise?: tf.Tensor, options: QSampleOptions = {}): tf.Tensor {
    const fn = 'qSample';
    const ts = this.begin(fn, 'xStart', xStart, t);
    if (noise !== undefined) checkNoise(fn, xStart, noise);
    return tf.tidy(() => this.qSampleOf(xStart, ts, noise ?? standardNormal(xStart.shape, options.seed)));
  }

  /**
   * The posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
   * μ̃_t = β_t √ᾱ_{t−1}/(1 − ᾱ_t) · x_0 + (1 − ᾱ_{t−1}) √α_t/(1 − ᾱ_t) · x_t (DDPM eq. 7).
   *
   * @param xStart - x_0, [B, …].
   * @param xT - x_t, [B, …].
   * @param t - one step per batch element.
   * @returns mean μ̃_t, variance β̃_t and log-variance (clipped at t = 0), each [B, …].
   */
  qPosteriorMeanVariance(xStart: tf.Tensor, xT: tf.Tensor, t: TimestepsInput): GaussianMoments {
    const fn = 'qPosteriorMeanVariance';
    const ts = this.begin(fn, 'xStart', xStart, t);
    checkTensor(fn, 'xT', xT);
    checkSameShape(fn, 'xStart', xStart, 'xT', xT);
    return tf.tidy(() => {
      const rank = xStart.rank;
      return {
        mean: this.posteriorMean(xStart, xT, ts),
        variance: tf.broadcastTo(ts.gather(this.posteriorVariance, rank), xStart.shape),
        logVariance: tf.broadcastTo(ts.gather(this.posteriorLogVarianceClipped, rank), xStart.shape),
      };
    });
  }

  /**
   * Applies the model to get p_θ(x_{t−1} | x_t) = N(μ_θ, Σ_θ) and the prediction x̂_0
   * behind it. For ε- and x_0-prediction μ_θ = μ̃_t(x̂_0, x_t); for x_{t−1}-prediction
   * μ_θ is the output and x̂_0 = (μ_θ − coef2·x_t)/coef1. Σ_θ follows `modelVarType`.
   *
   * @param model - the network; see {@link DiffusionModel}.
   * @param x - x_t, [B, …, C].
   * @param t - one step per batch element.
   * @returns mean, variance, logVariance and predXStart, each [B, …, C].
   */
  pMeanVariance(model: DiffusionModel, x: tf.Tensor, t: TimestepsInput, options: ModelCallOptions = {}): PMeanVariance {
    const fn = 'pMeanVariance';
    const ts = this.begin(fn, 'x', x, t);
    checkModel(fn, model);
    return tf.tidy(() => this.pMeanVarianceOf(fn, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, options));
  }

  /**
   * One ancestral step: x_{t−1} = μ_θ + [t ≠ 0]·exp(½ log Σ_θ)·z, z ~ N(0, I). With a
   * `condFn`, μ_θ ← μ_θ + Σ_θ·∇ log p(y | x_t) (guided-diffusion's `condition_mean`).
   *
   * @param model - the network.
   * @param x - x_t, [B, …, C].
   * @param t - one step per batch element.
   * @returns the sample x_{t−1} and x̂_0, each [B, …, C].
   */
  pSample(model: DiffusionModel, x: tf.Tensor, t: TimestepsInput, options: PSampleOptions = {}): SampleStep {
    const fn = 'pSample';
    const ts = this.begin(fn, 'x', x, t);
    checkModel(fn, model);
    checkCondFn(fn, options.condFn);
    if (options.noise !== undefined) checkNoise(fn, x, options.noise);
    return tf.tidy(() => {
      const out = this.pMeanVarianceOf(fn, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, options);
      const mean = options.condFn
        ? tf.add(out.mean, tf.mul(out.variance, this.applyCondFn(fn, options.condFn, x, ts, options.modelKwargs)))
        : out.mean;
      const noise = options.noise ?? standardNormal(x.shape, options.seed);
      const nonzero = ts.gather(this.nonzeroMask(), x.rank);
      const sample = tf.add(mean, tf.mul(tf.mul(nonzero, tf.exp(tf.mul(0.5, out.logVariance))), noise));
      return { sample, predXStart: out.predXStart };
    });
  }

  /**
   * One DDIM step (Song et al. 2021, eq. 12): with ε̂ re-derived from x̂_0,
   *
   *   x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1 − ᾱ_{t−1} − σ_t²) ε̂ + [t ≠ 0] σ_t z,
   *   σ_t = η √((1 − ᾱ_{t−1})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t−1}).
   *
   * σ_t and √(1 − ᾱ_{t−1} − σ_t²) are formed in float64 before the gather. With a
   * `condFn`, ε̂ ← ε̂ − √(1−ᾱ_t)·∇ log p(y | x_t) and x̂_0 is re-derived from it
   * (guided-diffusion's `condition_score`).
   *
   * @param model - the network.
   * @param x - x_t, [B, …, C].
   * @param t - one step per batch element.
   * @returns the sample x_{t−1} and x̂_0, each [B, …, C].
   */
  ddimSample(model: DiffusionModel, x: tf.Tensor, t: TimestepsInput, options: DdimSampleOptions = {}): SampleStep {
    const fn = 'ddimSample';
    const ts = this.begin(fn, 'x', x, t);
    checkModel(fn, model);
    checkCondFn(fn, options.condFn);
    const eta = checkEta(fn, options.eta ?? 0);
    if (options.noise !== undefined) checkNoise(fn, x, options.noise);
    return tf.tidy(() => {
      const out = this.pMeanVarianceOf(fn, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, options);
      let eps = this.predictEpsFromXStart(x, ts, out.predXStart);
      let predXStart = out.predXStart;
      if (options.condFn) {
        // Score-based conditioning: ε̂ ← ε̂ − √(1−ᾱ_t)·∇ log p(y|x_t), and x̂_0 from it (unclipped, as guided-diffusion).
        const grad = this.applyCondFn(fn, options.condFn, x, ts, options.modelKwargs);
        eps = tf.sub(eps, tf.mul(ts.gather(this.sqrtOneMinusAlphasCumprod, x.rank), grad));
        predXStart = this.predictXStartFromEps(x, ts, eps);
      }
      const sigma = this.ddimSigmaAtEtaOne.map((s) => eta * s);
      const sqrtPrev = this.alphasCumprodPrev.map(Math.sqrt);
      const epsCoef = this.alphasCumprodPrev.map((prev, i) => Math.sqrt(1 - prev - sigma[i]! ** 2));
      const meanPred = tf.add(tf.mul(ts.gather(sqrtPrev, x.rank), predXStart), tf.mul(ts.gather(epsCoef, x.rank), eps));
      if (eta === 0) return { sample: meanPred, predXStart };
      const noise = options.noise ?? standardNormal(x.shape, options.seed);
      const noiseCoef = sigma.map((s, i) => (i === 0 ? 0 : s));
      return { sample: tf.add(meanPred, tf.mul(ts.gather(noiseCoef, x.rank), noise)), predXStart };
    });
  }

  /**
   * Ancestral sampling x_T ~ N(0, I) → x_0 with {@link pSample} at every step of this
   * (possibly respaced) process, improved-diffusion's `p_sample_loop`. Asynchronous:
   * it yields to the event loop between steps, reads nothing back, and stops on
   * `options.signal`.
   *
   * @param model - the network.
   * @param shape - [B, …, C] of the samples.
   * @returns x_0, `shape` (the caller owns it).
   *
   * @example
   * ```ts
   * const x0 = await diffusion.respace('250').pSampleLoop(unet.forward, [16, 32, 32, 3], { seed: 0 });
   * ```
   */
  pSampleLoop(model: DiffusionModel, shape: readonly number[], options: SampleLoopOptions = {}): Promise<tf.Tensor> {
    return finalSample(this.pSampleLoopProgressive(model, shape, options));
  }

  /**
   * {@link pSampleLoop} one step at a time: an async iterator of `{ t, sample,
   * predXStart }` from t = T−1 to 0. Yielded tensors are valid until the next step.
   */
  pSampleLoopProgressive(
    model: DiffusionModel,
    shape: readonly number[],
    options: SampleLoopOptions = {},
  ): AsyncGenerator<SampleLoopStep, void, undefined> {
    return this.loop('pSampleLoopProgressive', 'ancestral', model, shape, options);
  }

  /**
   * DDIM sampling x_T → x_0 with {@link ddimSample} at every step of this process (use
   * a respaced process for fewer steps), improved-diffusion's `ddim_sample_loop`.
   *
   * @param model - the network.
   * @param shape - [B, …, C] of the samples.
   * @returns x_0, `shape` (the caller owns it).
   */
  ddimSampleLoop(model: DiffusionModel, shape: readonly number[], options: DdimSampleLoopOptions = {}): Promise<tf.Tensor> {
    return finalSample(this.ddimSampleLoopProgressive(model, shape, options));
  }

  /** {@link ddimSampleLoop} one step at a time; yielded tensors are valid until the next step. */
  ddimSampleLoopProgressive(
    model: DiffusionModel,
    shape: readonly number[],
    options: DdimSampleLoopOptions = {},
  ): AsyncGenerator<SampleLoopStep, void, undefined> {
    checkEta('ddimSampleLoopProgressive', options.eta ?? 0);
    return this.loop('ddimSampleLoopProgressive', 'ddim', model, shape, options);
  }

  /** The one sampling loop (`sampleProgressive`'s) over this process's steps. */
  private loop(
    fn: string,
    method: 'ancestral' | 'ddim',
    model: DiffusionModel,
    shape: readonly number[],
    options: DdimSampleLoopOptions,
  ): AsyncGenerator<SampleLoopStep, void, undefined> {
    checkLoopArguments(fn, model, shape, options, ['denoisedFn', 'condFn'], 'noise');
    const { noise, seed, onProgress, signal, clipDenoised, denoisedFn, modelKwargs, condFn, eta } = options;
    const driver = diffusionDriver(fn, this, { method, clipDenoised, denoisedFn, modelKwargs, condFn, eta });
    return runSteps(driver, model, shape, { initialNoise: noise, seed, onProgress, signal });
  }

  /**
   * One deterministic DDIM step towards noise (the ODE run backwards, for inversion):
   * x_{t+1} = √ᾱ_{t+1} x̂_0 + √(1 − ᾱ_{t+1}) ε̂.
   *
   * @param model - the network.
   * @param x - x_t, [B, …, C].
   * @param t - one step per batch element.
   * @returns the sample x_{t+1} and x̂_0, each [B, …, C].
   */
  ddimReverseSample(
    model: DiffusionModel,
    x: tf.Tensor,
    t: TimestepsInput,
    options: DdimReverseSampleOptions = {},
  ): SampleStep {
    const fn = 'ddimReverseSample';
    if (options.eta !== undefined && options.eta !== 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.eta', `must be 0 (the reverse ODE is deterministic), got ${describeValue(options.eta)}`);
    }
    const ts = this.begin(fn, 'x', x, t);
    checkModel(fn, model);
    return tf.tidy(() => {
      const out = this.pMeanVarianceOf(fn, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, options);
      const eps = this.predictEpsFromXStart(x, ts, out.predXStart);
      const sqrtNext = ts.gather(this.alphasCumprodNext.map(Math.sqrt), x.rank);
      const sqrtOneMinusNext = ts.gather(this.alphasCumprodNext.map((a) => Math.sqrt(1 - a)), x.rank);
      const sample = tf.add(tf.mul(sqrtNext, out.predXStart), tf.mul(sqrtOneMinusNext, eps));
      return { sample, predXStart: out.predXStart };
    });
  }

  /**
   * The per-example training objective for one batch, following `lossType`:
   *
   * - `mse` / `rescaled_mse`: L_simple = ‖target − prediction‖² (target ε, x_0 or
   *   μ̃_t), plus, for learned variances, L_vlb computed with a stop-gradient on the
   *   mean part so it trains Σ_θ only; `rescaled_mse` scales L_vlb by T/1000
   *   (L_hybrid = L_simple + λ L_vlb with λ = 0.001 at T = 1000).
   * - `kl` / `rescaled_kl`: L_vlb = L_t in bits/dim (× T for `rescaled_kl`), with no clipping.
   *
   * @param model - the network.
   * @param xStart - x_0, [B, …, C], scaled to [−1, 1].
   * @param t - one step per batch element.
   * @returns `loss` and, where they apply, `mse` and `vb`, each [B].
   */
  trainingLosses(
    model: DiffusionModel,
    xStart: tf.Tensor,
    t: TimestepsInput,
    options: TrainingLossesOptions = {},
  ): TrainingLosses {
    const fn = 'trainingLosses';
    const ts = this.begin(fn, 'xStart', xStart, t);
    checkModel(fn, model);
    if (options.noise !== undefined) checkNoise(fn, xStart, options.noise);
    const minSnrWeights = options.minSnrGamma === undefined ? null : this.minSnrWeights(fn, options.minSnrGamma);
    return tf.tidy((): TrainingLosses => {
      const noise = options.noise ?? standardNormal(xStart.shape, options.seed);
      const xT = this.qSampleOf(xStart, ts, noise);
      const output = this.applyModel(fn, model, xT, ts, options.modelKwargs);
      this.checkModelOutput(fn, output, xT);
      if (this.lossType === 'kl' || this.lossType === 'rescaled_kl') {
        const vb = this.vbTermsOf(fn, output, xStart, xT, ts, { clipDenoised: false }).output;
        return { loss: this.lossType === 'rescaled_kl' ? tf.mul(vb, this.numTimesteps) : vb };
      }
      const [prediction, varValues] = this.learnsVariance() ? tf.split(output, 2, -1) : [output];
      const squaredError = meanFlat(tf.squaredDifference(this.trainingTarget(xStart, xT, noise, ts), prediction!));
      const mse: tf.Tensor1D = minSnrWeights ? tf.mul(squaredError, ts.gather(minSnrWeights, 1)) : squaredError;
      if (!varValues) return { loss: mse, mse };
      // L_vlb must not move the mean: it sees a stop-gradient copy of it.
      const frozen = tf.concat([stopGradient(prediction!), varValues], -1);
      const vbTerm = this.vbTermsOf(fn, frozen, xStart, xT, ts, { clipDenoised: false }).output;
      const vb: tf.Tensor1D = this.lossType === 'rescaled_mse' ? tf.mul(vbTerm, this.numTimesteps / 1000) : vbTerm;
      return { loss: tf.add(mse, vb), mse, vb };
    });
  }

  /**
   * One term of the variational bound, in bits per dimension:
   * L_0 = −log p_θ(x_0 | x_1) (discretised Gaussian decoder) where t = 0, else
   * L_{t} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)), each averaged over non-batch axes / ln 2.
   *
   * @param model - the network.
   * @param xStart - x_0, [B, …, C].
   * @param xT - x_t, [B, …, C].
   * @param t - one step per batch element.
   * @returns `output` [B] and `predXStart` [B, …, C].
   */
  vbTermsBpd(
    model: DiffusionModel,
    xStart: tf.Tensor,
    xT: tf.Tensor,
    t: TimestepsInput,
    options: ModelCallOptions = {},
  ): VbTerms {
    const fn = 'vbTermsBpd';
    const ts = this.begin(fn, 'xStart', xStart, t);
    checkTensor(fn, 'xT', xT);
    checkSameShape(fn, 'xStart', xStart, 'xT', xT);
    checkModel(fn, model);
    return tf.tidy(() => this.vbTermsOf(fn, this.applyModel(fn, model, xT, ts, options.modelKwargs), xStart, xT, ts, options));
  }

  /**
   * The prior term L_T = KL(q(x_{T−1} | x_0) ‖ N(0, I)) in bits per dimension. It does
   * not depend on the model; it is small when the schedule destroys the signal.
   *
   * @param xStart - x_0, [B, …].
   * @returns [B].
   */
  priorBpd(xStart: tf.Tensor): tf.Tensor1D {
    const fn = 'priorBpd';
    checkTensor(fn, 'xStart', xStart, { minRank: 2 });
    const ts = BatchTimesteps.constant(this.numTimesteps - 1, xStart.shape[0]!);
    return tf.tidy(() => this.priorBpdOf(xStart, ts));
  }

  /**
   * The whole variational bound of x_0, step by step from t = T−1 down to 0: each
   * L_t on a fresh x_t ~ q(x_t | x_0), plus L_T. Also reports how well x_0 and ε are
   * predicted at each step. Runs T model calls synchronously.
   *
   * @param model - the network.
   * @param xStart - x_0, [B, …, C].
   * @returns totalBpd and priorBpd [B]; vb, xstartMse and mse [B, T] with column j ↔ t = T−1−j.
   */
  calcBpdLoop(model: DiffusionModel, xStart: tf.Tensor, options: CalcBpdLoopOptions = {}): BpdLoopResult {
    const fn = 'calcBpdLoop';
    checkTensor(fn, 'xStart', xStart, { minRank: 2 });
    checkModel(fn, model);
    const batch = xStart.shape[0]!;
    const clipDenoised = options.clipDenoised ?? true;
    const columns: Array<[tf.Tensor1D, tf.Tensor1D, tf.Tensor1D]> = [];
    try {
      for (let t = this.numTimesteps - 1; t >= 0; t--) {
        const noiseAtT = options.noise?.(t);
        if (noiseAtT !== undefined) checkNoise(fn, xStart, noiseAtT, `noise(${t})`);
        columns.push(
          tf.tidy(() => {
            const ts = BatchTimesteps.constant(t, batch);
            const seed = options.seed === undefined ? undefined : options.seed + t;
            const noise = noiseAtT ?? standardNormal(xStart.shape, seed);
            const xT = this.qSampleOf(xStart, ts, noise);
            const output = this.applyModel(fn, model, xT, ts, options.modelKwargs);
            const out = this.vbTermsOf(fn, output, xStart, xT, ts, { clipDenoised });
            const eps = this.predictEpsFromXStart(xT, ts, out.predXStart);
            return [
              out.output,
              meanFlat(tf.squaredDifference(out.predXStart, xStart)),
              meanFlat(tf.squaredDifference(eps, noise)),
            ];
          }),
        );
        options.onProgress?.(columns.length, this.numTimesteps);
      }
      return tf.tidy((): BpdLoopResult => {
        const [vb, xstartMse, mse] = [0, 1, 2].map((k) => tf.stack(columns.map((c) => c[k]!), 1) as tf.Tensor2D) as [
          tf.Tensor2D,
          tf.Tensor2D,
          tf.Tensor2D,
        ];
        const priorBpd = this.priorBpdOf(xStart, BatchTimesteps.constant(this.numTimesteps - 1, batch));
        return { totalBpd: tf.add(tf.sum<tf.Tensor2D>(vb, 1), priorBpd), priorBpd, vb, xstartMse, mse };
      });
    } finally {
      tf.dispose(columns.flat());
    }
  }

  // ---- internals: all assume validated arguments and run inside a tidy ----

  /** Validates data and timesteps shared by every method; returns the batch's timesteps. */
  private begin(fn: string, dataArg: string, x: tf.Tensor, t: TimestepsInput): BatchTimesteps {
    checkTensor(fn, dataArg, x, { minRank: 2 });
    return BatchTimesteps.resolve(fn, t, this.numTimesteps, x.shape[0]!, dataArg);
  }

  private learnsVariance(): boolean {
    return this.modelVarType === 'learned' || this.modelVarType === 'learned_range';
  }

  /**
   * Min-SNR-γ loss weights (Hang et al. 2023) per step, float64, expressed for this
   * process's prediction target: with SNR_t = ᾱ_t/(1 − ᾱ_t), min(SNR, γ)/SNR for ε,
   * min(SNR, γ) for x_0, min(SNR, γ)/(SNR + 1) for v — each equal to min(SNR, γ)
   * in x_0-space.
   */
  private minSnrWeights(fn: string, gamma: unknown): Float64Array {
    if (typeof gamma !== 'number' || !(gamma > 0) || !Number.isFinite(gamma)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.minSnrGamma', `must be a finite number > 0 (5 in the paper), got ${describeValue(gamma)}`);
    }
    if (this.modelMeanType === 'previous_x') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.minSnrGamma', "applies to 'epsilon', 'start_x' and 'v' prediction, not 'previous_x'");
    }
    return this.alphasCumprod.map((a) => {
      const snr = a / (1 - a);
      const clipped = Math.min(snr, gamma);
      if (this.modelMeanType === 'start_x') return clipped;
      if (this.modelMeanType === 'v') return clipped / (snr + 1);
      return snr <= gamma ? 1 : gamma / snr; // = min(SNR, γ)/SNR, also at SNR = 0
    });
  }

  /** 1 where t ≠ 0: no noise is added on the last sampling step. */
  private nonzeroMask(): Float64Array {
    return this.betas.map((_, i) => (i === 0 ? 0 : 1));
  }

  /** The timesteps the model sees: mapped to the original process, rescaled if asked. */
  private modelTimestepsOf(ts: BatchTimesteps): tf.Tensor1D {
    return this.rescaleTimesteps
      ? (tf.reshape(ts.gather(this.modelTimesteps, 1), [ts.batchSize]) as tf.Tensor1D)
      : ts.gatherInt(this.modelTimesteps);
  }

  /**
   * model(x_t, t) with the timesteps it expects; under a gradient tape on wasm, refuses a
   * model whose backward pass would need a kernel tfjs-backend-wasm lacks.
   */
  private applyModel(fn: string, model: DiffusionModel, x: tf.Tensor, ts: BatchTimesteps, kwargs?: ModelKwargs): tf.Tensor {
    const tapeStart = gradientTapeLength();
    const output = model(x, this.modelTimestepsOf(ts), kwargs);
    checkWasmGradientKernels(fn, 'model', tapeStart);
    return output;
  }

  private applyCondFn(fn: string, condFn: CondFn, x: tf.Tensor, ts: BatchTimesteps, kwargs?: ModelKwargs): tf.Tensor {
    const grad = condFn(x, this.modelTimestepsOf(ts), kwargs);
    if (!(grad instanceof tf.Tensor) || !tf.util.arraysEqual(grad.shape, x.shape)) {
      const got = grad instanceof tf.Tensor ? `shape ${shapeString(grad.shape)}` : describeValue(grad);
      throw new DifflibError('SHAPE_MISMATCH', fn, 'condFn output', `must be a gradient shaped like x ${shapeString(x.shape)}, got ${got}`);
    }
    return grad;
  }

  /** x̂_0 = √(1/ᾱ) x_t − √(1/ᾱ − 1) ε. */
  private predictXStartFromEps(xT: tf.Tensor, ts: BatchTimesteps, eps: tf.Tensor): tf.Tensor {
    const rank = xT.rank;
    return tf.sub(
      tf.mul(ts.gather(this.sqrtRecipAlphasCumprod, rank), xT),
      tf.mul(ts.gather(this.sqrtRecipm1AlphasCumprod, rank), eps),
    );
  }

  private checkModelOutput(fn: string, output: tf.Tensor, x: tf.Tensor): void {
    const channels = x.shape[x.rank - 1]!;
    const expected = this.learnsVariance() ? [...x.shape.slice(0, -1), 2 * channels] : x.shape;
    if (!(output instanceof tf.Tensor) || !tf.util.arraysEqual(output.shape, expected)) {
      const got = output instanceof tf.Tensor ? `shape ${shapeString(output.shape)}` : describeValue(output);
      const why = this.learnsVariance()
        ? ` (modelVarType '${this.modelVarType}' needs 2C = ${2 * channels} channels: mean part, then variance part)`
        : '';
      throw new DifflibError('SHAPE_MISMATCH', fn, 'model output', `must have shape ${shapeString(expected)}${why}, got ${got}`);
    }
  }

  private qSampleOf(xStart: tf.Tensor, ts: BatchTimesteps, noise: tf.Tensor): tf.Tensor {
    const rank = xStart.rank;
    return tf.add(
      tf.mul(ts.gather(this.sqrtAlphasCumprod, rank), xStart),
      tf.mul(ts.gather(this.sqrtOneMinusAlphasCumprod, rank), noise),
    );
  }

  private posteriorMean(xStart: tf.Tensor, xT: tf.Tensor, ts: BatchTimesteps): tf.Tensor {
    const rank = xStart.rank;
    return tf.add(
      tf.mul(ts.gather(this.posteriorMeanCoef1, rank), xStart),
      tf.mul(ts.gather(this.posteriorMeanCoef2, rank), xT),
    );
  }

  /**
   * ε̂ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t): improved-diffusion's (√(1/ᾱ_t) x_t − x̂_0) / √(1/ᾱ_t − 1)
   * with both parts multiplied by √ᾱ_t, so it stays finite (ε̂ = x_t) at a zero-terminal-SNR step.
   */
  private predictEpsFromXStart(xT: tf.Tensor, ts: BatchTimesteps, predXStart: tf.Tensor): tf.Tensor {
    const rank = xT.rank;
    return tf.div(
      tf.sub(xT, tf.mul(ts.gather(this.sqrtAlphasCumprod, rank), predXStart)),
      ts.gather(this.sqrtOneMinusAlphasCumprod, rank),
    );
  }

  private pMeanVarianceOf(
    fn: string,
    output: tf.Tensor,
    x: tf.Tensor,
    ts: BatchTimesteps,
    options: ModelCallOptions,
  ): PMeanVariance {
    this.checkModelOutput(fn, output, x);
    const rank = x.rank;
    let prediction = output;
    let variance: tf.Tensor;
    let logVariance: tf.Tensor;
    if (this.learnsVariance()) {
      const [meanPart, varValues] = tf.split(output, 2, -1) as [tf.Tensor, tf.Tensor];
      prediction = meanPart;
      if (this.modelVarType === 'learned') {
        logVariance = varValues;
      } else {
        // v ∈ [−1, 1] interpolates log β̃_t (v = −1) and log β_t (v = 1).
        const frac = tf.div(tf.add(varValues, 1), 2);
        const maxLog = ts.gather(this.logBetas, rank);
        const minLog = ts.gather(this.posteriorLogVarianceClipped, rank);
        logVariance = tf.add(tf.mul(frac, maxLog), tf.mul(tf.sub(1, frac), minLog));
      }
      variance = tf.exp(logVariance);
    } else {
      const [v, logV] =
        this.modelVarType === 'fixed_large'
          ? [this.fixedLargeVariance, this.fixedLargeLogVariance]
          : [this.posteriorVariance, this.posteriorLogVarianceClipped];
      variance = tf.broadcastTo(ts.gather(v, rank), x.shape);
      logVariance = tf.broadcastTo(ts.gather(logV, rank), x.shape);
    }
    const processXStart = (x0: tf.Tensor): tf.Tensor => {
      const denoised = options.denoisedFn ? options.denoisedFn(x0) : x0;
      return options.clipDenoised ?? true ? tf.clipByValue(denoised, -1, 1) : denoised;
    };
    if (this.modelMeanType === 'previous_x') {
      const predXStart = processXStart(
        tf.sub(
          tf.mul(ts.gather(this.recipPosteriorMeanCoef1, rank), prediction),
          tf.mul(ts.gather(this.posteriorMeanCoef2OverCoef1, rank), x),
        ),
      );
      return { mean: prediction, variance, logVariance, predXStart };
    }
    const predXStart = processXStart(this.predictXStart(prediction, x, ts));
    const mean = this.posteriorMean(predXStart, x, ts);
    return { mean, variance, logVariance, predXStart };
  }

  /** x̂_0 from an ε-, x_0- or v-prediction (before clipping). */
  private predictXStart(prediction: tf.Tensor, xT: tf.Tensor, ts: BatchTimesteps): tf.Tensor {
    const rank = xT.rank;
    switch (this.modelMeanType) {
      case 'start_x':
        return prediction;
      case 'v': // x_0 = √ᾱ x_t − √(1−ᾱ) v
        return tf.sub(
          tf.mul(ts.gather(this.sqrtAlphasCumprod, rank), xT),
          tf.mul(ts.gather(this.sqrtOneMinusAlphasCumprod, rank), prediction),
        );
      default:
        return this.predictXStartFromEps(xT, ts, prediction);
    }
  }

  /** What the mean part of the model output is regressed on in L_simple. */
  private trainingTarget(xStart: tf.Tensor, xT: tf.Tensor, noise: tf.Tensor, ts: BatchTimesteps): tf.Tensor {
    const rank = xStart.rank;
    switch (this.modelMeanType) {
      case 'previous_x':
        return this.posteriorMean(xStart, xT, ts);
      case 'start_x':
        return xStart;
      case 'v': // v = √ᾱ ε − √(1−ᾱ) x_0 (Salimans & Ho 2022)
        return tf.sub(
          tf.mul(ts.gather(this.sqrtAlphasCumprod, rank), noise),
          tf.mul(ts.gather(this.sqrtOneMinusAlphasCumprod, rank), xStart),
        );
      default:
        return noise;
    }
  }

  private vbTermsOf(
    fn: string,
    output: tf.Tensor,
    xStart: tf.Tensor,
    xT: tf.Tensor,
    ts: BatchTimesteps,
    options: ModelCallOptions,
  ): VbTerms {
    const trueMean = this.posteriorMean(xStart, xT, ts);
    const trueLogVariance = ts.gather(this.posteriorLogVarianceClipped, xStart.rank);
    const out = this.pMeanVarianceOf(fn, output, xT, ts, options);
    const kl: tf.Tensor1D = tf.div(meanFlat(normalKl(trueMean, trueLogVariance, out.mean, out.logVariance)), LN2);
    const decoderNll: tf.Tensor1D = tf.div(
      meanFlat(discretizedGaussianLogLikelihood(xStart, { means: out.mean, logScales: tf.mul(0.5, out.logVariance) })),
      -LN2,
    );
    return { output: tf.where(ts.isFirstStep(), decoderNll, kl) as tf.Tensor1D, predXStart: out.predXStart };
  }

  private priorBpdOf(xStart: tf.Tensor, ts: BatchTimesteps): tf.Tensor1D {
    const rank = xStart.rank;
    const mean = tf.mul(ts.gather(this.sqrtAlphasCumprod, rank), xStart);
    const logVariance = tf.broadcastTo(ts.gather(this.logOneMinusAlphasCumprod, rank), xStart.shape);
    return tf.div(meanFlat(normalKl(mean, logVariance, 0, 0)), LN2) as tf.Tensor1D;
  }
}

function resolveSchedule(fn: string, options: GaussianDiffusionOptions): NoiseSchedule {
  if ((options.betas === undefined) === (options.schedule === undefined)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.betas', 'give exactly one of options.betas and options.schedule');
  }
  let schedule: NoiseSchedule;
  if (options.schedule !== undefined) {
    if (!(options.schedule instanceof NoiseSchedule)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.schedule', `must be a NoiseSchedule, got ${describeValue(options.schedule)}`);
    }
    schedule = options.schedule;
  } else {
    schedule = attributeErrors(fn, 'options.betas', () => NoiseSchedule.fromBetas(options.betas!));
  }
  const use = options.useTimesteps;
  if (use === undefined) return schedule;
  return attributeErrors(fn, 'options.useTimesteps', () =>
    schedule.respace(typeof use === 'string' ? use : { useTimesteps: use }),
  );
}

function checkEnum<T extends string>(fn: string, arg: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new DifflibError(
      'UNKNOWN_OPTION',
      fn,
      arg,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

function checkModel(fn: string, model: unknown): void {
  if (typeof model !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'model', `must be a function (x, t, kwargs?) => tf.Tensor, got ${describeValue(model)}`);
  }
}

function checkCondFn(fn: string, condFn: unknown): void {
  if (condFn !== undefined && typeof condFn !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.condFn', `must be a function (x, t, kwargs?) => gradient, got ${describeValue(condFn)}`);
  }
}

function checkNoise(fn: string, x: tf.Tensor, noise: unknown, arg = 'noise'): void {
  checkTensor(fn, arg, noise);
  checkSameShape(fn, 'x', x, arg, noise as tf.Tensor);
}

function checkEta(fn: string, eta: unknown): number {
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.eta', `must be a finite number >= 0, got ${describeValue(eta)}`);
  }
  return eta;
}
