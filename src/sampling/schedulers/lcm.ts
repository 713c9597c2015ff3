import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { AlphaSchedulerBase } from './alpha-scheduler';
import { BETA_KEYS, PREDICTION_TYPE, RESCALE_ZERO_SNR, SPACING_KEYS, THRESHOLD_KEYS } from './common-keys';
import { boolean, positiveInteger, positiveNumber, type ConfigSchema } from './config';
import { f32 } from './float32';
import { predictOriginalSample, type OriginalSampleConfig } from './original-sample';
import { type SchedulerStepOptions, type SchedulerStepOutput } from './scheduler';

/** diffusers' `LCMScheduler` config keys and defaults. */
const LCM_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  beta_start: { ...BETA_KEYS.beta_start, default: 0.00085 },
  beta_end: { ...BETA_KEYS.beta_end, default: 0.012 },
  beta_schedule: { ...BETA_KEYS.beta_schedule, default: 'scaled_linear' },
  original_inference_steps: { default: 50, check: positiveInteger },
  clip_sample: { default: false, check: boolean },
  clip_sample_range: { default: 1.0, check: positiveNumber },
  set_alpha_to_one: { default: true, check: boolean },
  steps_offset: SPACING_KEYS.steps_offset,
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  timestep_spacing: SPACING_KEYS.timestep_spacing,
  timestep_scaling: { default: 10.0, check: positiveNumber },
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
};

/** `LCMScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface LCMSchedulerOptions {
  /** T, the training steps (1000). */
  numTrainTimesteps?: number;
  /** β_1 of `linear` / `scaled_linear` (0.00085). */
  betaStart?: number;
  /** β_T of `linear` / `scaled_linear` (0.012). */
  betaEnd?: number;
  /** `scaled_linear` (default, Stable Diffusion), `linear` or `squaredcos_cap_v2` (cosine). */
  betaSchedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Betas to use instead of a named schedule, `numTrainTimesteps` of them. */
  trainedBetas?: ArrayLike<number> | null;
  /** The distillation schedule's length (50): its timesteps are k·i − 1, k = ⌊T/50⌋; the N steps are taken from them. */
  originalInferenceSteps?: number;
  /** Clip x̂_0 to ±clipSampleRange (false). */
  clipSample?: boolean;
  /** The clipping range of x̂_0 (1). */
  clipSampleRange?: number;
  /** ᾱ below timestep 0: 1 (true, default) or ᾱ_0. */
  setAlphaToOne?: boolean;
  /** Kept for diffusers' config; LCM's timesteps do not use it (0). */
  stepsOffset?: number;
  /** What the model predicts: `epsilon` (default), `sample` (x_0) or `v_prediction`. */
  predictionType?: 'epsilon' | 'sample' | 'v_prediction';
  /** Dynamic thresholding of x̂_0 instead of clipping (false). */
  thresholding?: boolean;
  /** Quantile of |x̂_0| that thresholding scales by (0.995). */
  dynamicThresholdingRatio?: number;
  /** Largest threshold (1). */
  sampleMaxValue?: number;
  /** Kept for diffusers' config; LCM's timesteps do not use it (`leading`). */
  timestepSpacing?: 'leading' | 'trailing' | 'linspace';
  /** The factor on t in the boundary conditions c_skip, c_out (10). */
  timestepScaling?: number;
  /** Rescale the betas to zero terminal SNR (false). */
  rescaleBetasZeroSnr?: boolean;
}

/** What {@link LCMScheduler.step} returns: the next sample and the step's consistency estimate of x_0. */
export interface LCMStepOutput extends SchedulerStepOutput {
  /** c_skip·x_t + c_out·x̂_0 (on the last step, a copy of `prevSample`). */
  denoised: tf.Tensor;
}

/**
 * Latent consistency model sampling (Luo et al. 2023), diffusers' `LCMScheduler`: each
 * step maps x_t to the consistency estimate
 *
 * d = c_skip(t) x_t + c_out(t) x̂_0,  c_skip = σ_d²/(τ² + σ_d²),  c_out = τ/√(τ² + σ_d²),
 *
 * τ = t·`timestepScaling`, σ_d = 0.5, then re-noises it to the next timestep s,
 * x_s = √ᾱ_s d + √(1 − ᾱ_s) z (not after the last step, whose output is d). The N
 * timesteps are taken evenly (by index) from the distillation schedule k·i − 1,
 * i = `originalInferenceSteps` … 1, k = ⌊T/originalInferenceSteps⌋. The steps are
 * counted: call them in order.
 *
 * @example
 * ```ts
 * const scheduler = new LCMScheduler(); // Stable Diffusion's betas, 50 distillation steps
 * scheduler.setTimesteps(4);            // 999, 759, 499, 259
 * let x = tf.randomNormal([1, 64, 64, 4]);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const { prevSample, denoised } = scheduler.step(eps, t, x);
 *   tf.dispose([x, eps, denoised]);
 *   x = prevSample;
 * }
 * ```
 */
export class LCMScheduler extends AlphaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = LCM_SCHEMA;
  /** diffusers' `order`: 1 (one model call per `step`). */
  readonly order = 1;
  /** 1: x_T is unit Gaussian noise. */
  readonly initNoiseSigma = 1;
  /** ᾱ below timestep 0. */
  readonly finalAlphaCumprod: number;

  /** @param options - diffusers' config, camelCased; see {@link LCMSchedulerOptions}. */
  constructor(options: LCMSchedulerOptions = {}) {
    super('LCMScheduler', LCM_SCHEMA, options);
    this.finalAlphaCumprod = this.finalAlphaCumprodOf();
  }

  protected override checkConfig(): void {
    const T = this.cfg<number>('num_train_timesteps');
    const original = this.cfg<number>('original_inference_steps');
    if (original > T) {
      throw new DifflibError('INVALID_ARGUMENT', this.className, 'options.originalInferenceSteps', `must be at most num_train_timesteps (${T}), got ${original}`);
    }
  }

  protected override checkInferenceSteps(fn: string, n: number): void {
    const original = this.cfg<number>('original_inference_steps');
    if (n > original) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'numInferenceSteps', `must be at most original_inference_steps (${original}): the steps are taken from that schedule, got ${describeValue(n)}`);
    }
  }

  protected computeTimesteps(n: number): number[] {
    const original = this.cfg<number>('original_inference_steps');
    const k = Math.floor(this.cfg<number>('num_train_timesteps') / original);
    // floor(np.linspace(0, original, n, endpoint=False)) indexes the reversed schedule k·i − 1.
    const step = original / n;
    return Array.from({ length: n }, (_, i) => (original - Math.floor(i * step)) * k - 1);
  }

  /** One LCM step: the consistency estimate at t, re-noised to the next timestep. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): LCMStepOutput {
    const fn = 'LCMScheduler.step';
    const opts = this.checkStep(fn, modelOutput, sample, options, []);
    const i = this.countedIndex(fn, t);
    const last = i === this.numInferenceSteps - 1;
    const prevT = i + 1 < this.timestepValues.length ? this.timestepValues[i + 1]! : t;
    const alphaProdT = this.alphasCumprod[t]!;
    const alphaProdTPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const scaled = f32(t * f32(this.cfg<number>('timestep_scaling')));
    const denom = f32(f32(scaled * scaled) + 0.25);
    const cSkip = f32(0.25 / denom);
    const cOut = f32(scaled / f32(Math.sqrt(denom)));

    const out = tf.tidy(() => {
      const x0 = predictOriginalSample(this.config as unknown as OriginalSampleConfig, modelOutput, sample, alphaProdT);
      const denoised = tf.add(tf.mul(x0, cOut), tf.mul(sample, cSkip));
      if (last) return { prevSample: denoised, denoised: tf.clone(denoised) };
      const noise = this.noise(sample.shape, opts);
      const prev = tf.add(tf.mul(denoised, f32(Math.sqrt(alphaProdTPrev))), tf.mul(noise, f32(Math.sqrt(f32(1 - alphaProdTPrev)))));
      return { prevSample: prev, denoised };
    });
    this.stepIndex = i + 1;
    return out;
  }
}
