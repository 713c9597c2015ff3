// GaussianDiffusion is the public face of the process: one method per function of
// improved-diffusion's GaussianDiffusion, each checking its arguments and documenting its
// shapes and equation. That is why this file runs past 300 lines; the computations live in
// process.ts (q, posterior, p_mean_variance), sample-steps.ts, objectives.ts (losses,
// bits/dim) and sample-driver.ts (the sampling loops), the checks in checks.ts.
import * as tf from '@tensorflow/tfjs-core';
import { checkWasmGradientKernels, gradientTapeLength } from '../backends/wasm-gradient-check';
import { DifflibError, attributeErrors, describeValue } from '../errors';
import { standardNormal } from '../random-normal';
import { NoiseSchedule, type Respacing } from '../schedules/noise-schedule';
import { checkLoopArguments, finalSample, initialNoiseOption, runSteps } from '../step-loop';
import { checkModelOutput, checkSameShape, checkSeed, checkTensor } from '../validate';
import { checkCondFn, checkEnum, checkEta, checkModel, checkNoise, resolveSchedule } from './checks';
import { computeTables, type DiffusionTables } from './coefficients';
import { calcBpdLoopOf, minSnrWeights, priorBpdOf, trainingLossesOf, vbTermsOf, type ModelCall } from './objectives';
import type {
  CalcBpdLoopOptions,
  DdimReverseSampleOptions,
  DdimSampleOptions,
  GaussianDiffusionConfig,
  GaussianDiffusionOptions,
  PSampleOptions,
  QSampleOptions,
  TrainingLossesOptions,
} from './options';
import { deriveTables, pMeanVarianceOf, posteriorMean, qSampleOf, type DerivedTables } from './process';
import { diffusionDriver } from './sample-driver';
import type { DdimSampleLoopOptions, SampleLoopOptions, SampleLoopStep } from './sample-loop-options';
import { ddimReverseSampleOf, ddimSampleOf, pSampleOf, type StepInputs } from './sample-steps';
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

  /** Tables derived once for the sampling steps. @internal */
  readonly derived: DerivedTables;
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
    this.derived = deriveTables(this);
    const scale = this.rescaleTimesteps ? Math.fround(1000 / this.originalNumTimesteps) : 1;
    // float32(t) · float32(1000/T), as the reference computes it in float32.
    this.modelTimesteps = Float64Array.from(this.timestepMap, (t) => Math.fround(t * scale));
  }

  /**
   * Rebuilds a process from {@link GaussianDiffusion.toConfig}'s description (e.g. read
   * from a model file or a checkpoint).
   * @param config - the schedule and the parameterisation.
   * @returns the same process: equal tables, bit for bit.
   *
   * @example
   * ```ts
   * const again = GaussianDiffusion.fromConfig(JSON.parse(JSON.stringify(diffusion.toConfig())));
   * ```
   */
  static fromConfig(config: GaussianDiffusionConfig): GaussianDiffusion {
    const fn = 'GaussianDiffusion.fromConfig';
    if (config === null || typeof config !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'config', `must be a GaussianDiffusionConfig, got ${describeValue(config)}`);
    }
    const { schedule, modelMeanType, modelVarType, lossType, rescaleTimesteps } = config;
    if (typeof rescaleTimesteps !== 'boolean') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'config.rescaleTimesteps', `must be a boolean, got ${describeValue(rescaleTimesteps)}`);
    }
    try {
      return new GaussianDiffusion({ schedule: NoiseSchedule.fromConfig(schedule), modelMeanType, modelVarType, lossType, rescaleTimesteps });
    } catch (e) {
      if (!(e instanceof DifflibError)) throw e;
      // Name the field of `config` at fault: config.schedule.betas, config.modelMeanType, ...
      const field = e.functionName === 'NoiseSchedule.fromConfig' ? e.argument.replace(/^config/, 'config.schedule') : e.argument.replace(/^options/, 'config');
      throw new DifflibError(e.code, fn, field, e.detail);
    }
  }

  /**
   * The process as plain JSON-safe data: its schedule (betas exact) and parameterisation.
   * @returns what {@link GaussianDiffusion.fromConfig} takes.
   */
  toConfig(): GaussianDiffusionConfig {
    const { modelMeanType, modelVarType, lossType, rescaleTimesteps } = this;
    return { schedule: this.schedule.toConfig(), modelMeanType, modelVarType, lossType, rescaleTimesteps };
  }

  /**
   * The same process on fewer steps, for faster sampling with the same model:
   * improved-diffusion's `SpacedDiffusion` over this process's schedule (a respaced
   * process can be respaced again; the model still sees original timesteps).
   *
   * @param respacing - `"ddimN"` or `"a,b,c"` section counts, `{ sectionCounts }`, or `{ useTimesteps }` (the steps to keep).
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
        variance: tf.broadcastTo(ts.gather(this.derived.oneMinusAlphasCumprod, rank), xStart.shape),
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
    checkSeed(fn, 'options.seed', options.seed);
    if (noise !== undefined) checkNoise(fn, xStart, noise);
    return tf.tidy(() => qSampleOf(this, xStart, ts, noise ?? standardNormal(xStart.shape, options.seed)));
  }

  /**
   * The posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
   * μ̃_t = β_t √ᾱ_{t−1}/(1 − ᾱ_t) · x_0 + (1 − ᾱ_{t−1}) √α_t/(1 − ᾱ_t) · x_t (DDPM eq. 7).
   *
   * @param xStart - x_0, [B, …].
   * @param xt - x_t, [B, …].
   * @param t - one step per batch element.
   * @returns mean μ̃_t, variance β̃_t and log-variance (clipped at t = 0), each [B, …].
   */
  qPosteriorMeanVariance(xStart: tf.Tensor, xt: tf.Tensor, t: TimestepsInput): GaussianMoments {
    const fn = 'qPosteriorMeanVariance';
    const ts = this.begin(fn, 'xStart', xStart, t);
    checkTensor(fn, 'xt', xt);
    checkSameShape(fn, 'xStart', xStart, 'xt', xt);
    return tf.tidy(() => {
      const rank = xStart.rank;
      return {
        mean: posteriorMean(this, xStart, xt, ts),
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
    return tf.tidy(() => pMeanVarianceOf(fn, this, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, options));
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
    checkSeed(fn, 'options.seed', options.seed);
    checkModel(fn, model);
    checkCondFn(fn, options.condFn);
    if (options.noise !== undefined) checkNoise(fn, x, options.noise);
    return tf.tidy(() => pSampleOf(fn, this, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, this.stepInputs(fn, x, ts, options)));
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
    checkSeed(fn, 'options.seed', options.seed);
    checkModel(fn, model);
    checkCondFn(fn, options.condFn);
    const eta = checkEta(fn, options.eta ?? 0);
    if (options.noise !== undefined) checkNoise(fn, x, options.noise);
    return tf.tidy(() => ddimSampleOf(fn, this, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, eta, this.stepInputs(fn, x, ts, options)));
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
    const initialNoiseKey = initialNoiseOption(fn, options);
    checkLoopArguments(fn, model, shape, options, ['denoisedFn', 'condFn'], initialNoiseKey);
    const { seed, onProgress, signal, clipDenoised, denoisedFn, modelKwargs, condFn, eta } = options;
    const driver = diffusionDriver(fn, this, { method, clipDenoised, denoisedFn, modelKwargs, condFn, eta });
    return runSteps(driver, model, shape, { initialNoise: options[initialNoiseKey], seed, onProgress, signal });
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
    return tf.tidy(() => ddimReverseSampleOf(fn, this, this.applyModel(fn, model, x, ts, options.modelKwargs), x, ts, options));
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
    checkSeed(fn, 'options.seed', options.seed);
    checkModel(fn, model);
    if (options.noise !== undefined) checkNoise(fn, xStart, options.noise);
    const weights = options.minSnrGamma === undefined ? null : minSnrWeights(fn, this, options.minSnrGamma);
    return tf.tidy(() =>
      trainingLossesOf(fn, this, this.modelCall(fn, model, options.modelKwargs), xStart, ts, options.noise ?? standardNormal(xStart.shape, options.seed), weights),
    );
  }

  /**
   * One term of the variational bound, in bits per dimension:
   * L_0 = −log p_θ(x_0 | x_1) (discretised Gaussian decoder) where t = 0, else
   * L_{t} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)), each averaged over non-batch axes / ln 2.
   *
   * @param model - the network.
   * @param xStart - x_0, [B, …, C].
   * @param xt - x_t, [B, …, C].
   * @param t - one step per batch element.
   * @returns `output` [B] and `predXStart` [B, …, C].
   */
  vbTermsBpd(
    model: DiffusionModel,
    xStart: tf.Tensor,
    xt: tf.Tensor,
    t: TimestepsInput,
    options: ModelCallOptions = {},
  ): VbTerms {
    const fn = 'vbTermsBpd';
    const ts = this.begin(fn, 'xStart', xStart, t);
    checkTensor(fn, 'xt', xt);
    checkSameShape(fn, 'xStart', xStart, 'xt', xt);
    checkModel(fn, model);
    return tf.tidy(() => vbTermsOf(fn, this, this.applyModel(fn, model, xt, ts, options.modelKwargs), xStart, xt, ts, options));
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
    return tf.tidy(() => priorBpdOf(this, xStart, ts));
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
    checkSeed(fn, 'options.seed', options.seed);
    checkTensor(fn, 'xStart', xStart, { minRank: 2 });
    checkModel(fn, model);
    return calcBpdLoopOf(fn, this, this.modelCall(fn, model, options.modelKwargs), xStart, {
      clipDenoised: options.clipDenoised ?? true,
      seed: options.seed,
      onProgress: options.onProgress,
      noiseAt: (t) => {
        const noise = options.noise?.(t);
        if (noise !== undefined) checkNoise(fn, xStart, noise, `noise(${t})`);
        return noise;
      },
    });
  }

  // ---- internals: all assume validated arguments and run inside a tidy ----

  /** Validates data and timesteps shared by every method; returns the batch's timesteps. */
  private begin(fn: string, dataArg: string, x: tf.Tensor, t: TimestepsInput): BatchTimesteps {
    checkTensor(fn, dataArg, x, { minRank: 2 });
    return BatchTimesteps.resolve(fn, t, this.numTimesteps, x.shape[0]!, dataArg);
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

  /** {@link applyModel} bound to a model and its kwargs. */
  private modelCall(fn: string, model: DiffusionModel, kwargs?: ModelKwargs): ModelCall {
    return (x, ts) => this.applyModel(fn, model, x, ts, kwargs);
  }

  /** A step's noise, seed and clipping, with the condFn gradient ∇ log p(y | x_t) evaluated on demand. */
  private stepInputs(fn: string, x: tf.Tensor, ts: BatchTimesteps, options: PSampleOptions): StepInputs {
    const { condFn, modelKwargs } = options;
    if (condFn === undefined) return options;
    return {
      ...options,
      gradient: () => {
        return checkModelOutput(fn, 'condFn output', condFn(x, this.modelTimestepsOf(ts), modelKwargs), x.shape, ' (a gradient shaped like x)');
      },
    };
  }
}

