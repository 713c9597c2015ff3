import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { AlphaSchedulerBase } from './alpha-scheduler';
import { BETA_KEYS, PREDICTION_TYPE, RESCALE_ZERO_SNR, SPACING_KEYS, THRESHOLD_KEYS } from './common-keys';
import { boolean, positiveNumber, type ConfigSchema } from './config';
import { f32 } from './float32';
import { type SchedulerStepOptions, type SchedulerStepOutput } from './scheduler';
import { spacedTimesteps, type TimestepSpacing } from './spacing';
import { thresholdSample } from './thresholding';

/** diffusers' `DDIMScheduler` config keys and defaults. */
const DDIM_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  clip_sample: { default: true, check: boolean },
  set_alpha_to_one: { default: true, check: boolean },
  steps_offset: SPACING_KEYS.steps_offset,
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  clip_sample_range: { default: 1.0, check: positiveNumber },
  timestep_spacing: SPACING_KEYS.timestep_spacing,
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
};

/** `DDIMScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface DDIMSchedulerOptions {
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
  /** Clip x̂_0 to ±clipSampleRange (true). */
  clipSample?: boolean;
  /** ᾱ after the last step: 1 (true, default) or ᾱ_0. */
  setAlphaToOne?: boolean;
  /** Added to `leading` timesteps (0; Stable Diffusion uses 1). */
  stepsOffset?: number;
  /** What the model predicts: `epsilon` (default), `sample` (x_0) or `v_prediction`. */
  predictionType?: 'epsilon' | 'sample' | 'v_prediction';
  /** Dynamic thresholding of x̂_0 instead of clipping (false). */
  thresholding?: boolean;
  /** Quantile of |x̂_0| that thresholding scales by (0.995). */
  dynamicThresholdingRatio?: number;
  /** Largest threshold (1). */
  sampleMaxValue?: number;
  /** The clipping range of x̂_0 (1). */
  clipSampleRange?: number;
  /** `leading` (default), `trailing` or `linspace`. */
  timestepSpacing?: TimestepSpacing;
  /** Rescale the betas to zero terminal SNR (false). */
  rescaleBetasZeroSnr?: boolean;
}

/**
 * DDIM (Song et al. 2021), diffusers' `DDIMScheduler`: with ε̂ and x̂_0 from the model,
 *
 * x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1 − ᾱ_{t−1} − σ_t²) ε̂ + σ_t z,
 * σ_t = η √((1 − ᾱ_{t−1})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t−1}),
 *
 * where t−1 is always t − ⌊T/N⌋ (whatever the spacing) and ᾱ below step 0 is 1
 * (`setAlphaToOne`) or ᾱ_0. Noise is drawn only for η > 0, at every step.
 *
 * @example
 * ```ts
 * const scheduler = new DDIMScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012,
 *   clipSample: false, setAlphaToOne: false, stepsOffset: 1 });
 * scheduler.setTimesteps(50);
 * let x = tf.randomNormal([1, 64, 64, 4]);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const { prevSample, predOriginalSample } = scheduler.step(eps, t, x, { eta: 0 });
 *   tf.dispose([x, eps, predOriginalSample!]);
 *   x = prevSample;
 * }
 * ```
 */
export class DDIMScheduler extends AlphaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = DDIM_SCHEMA;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  /** ᾱ after the last step. */
  readonly finalAlphaCumprod: number;

  /** @param options - diffusers' config, camelCased; see {@link DDIMSchedulerOptions}. */
  constructor(options: DDIMSchedulerOptions = {}) {
    super('DDIMScheduler', DDIM_SCHEMA, options);
    this.finalAlphaCumprod = this.finalAlphaCumprodOf();
  }

  protected computeTimesteps(n: number): number[] {
    const T = this.cfg<number>('num_train_timesteps');
    return spacedTimesteps(this.cfg<TimestepSpacing>('timestep_spacing'), T, n, this.cfg<number>('steps_offset'));
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SchedulerStepOutput {
    const fn = 'DDIMScheduler.step';
    const opts = this.checkStep(fn, modelOutput, sample, options, ['eta', 'useClippedModelOutput']);
    this.indexOf(fn, t);
    const eta = opts.eta ?? 0;
    if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.eta', `must be a finite number ≥ 0, got ${describeValue(eta)}`);
    }
    const useClipped = opts.useClippedModelOutput ?? false;
    if (typeof useClipped !== 'boolean') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.useClippedModelOutput', `must be a boolean, got ${describeValue(useClipped)}`);
    }
    const T = this.cfg<number>('num_train_timesteps');
    const prevT = t - Math.floor(T / this.numInferenceSteps);
    const alphaProdT = this.alphasCumprod[t]!;
    const alphaProdTPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const betaProdT = f32(1 - alphaProdT);
    const betaProdTPrev = f32(1 - alphaProdTPrev);
    const sqrtAlpha = f32(Math.sqrt(alphaProdT));
    const sqrtBeta = f32(Math.sqrt(betaProdT));
    const variance = f32(f32(betaProdTPrev / betaProdT) * f32(1 - f32(alphaProdT / alphaProdTPrev)));
    const stdDevT = f32(f32(eta) * f32(Math.sqrt(variance)));
    const directionCoef = f32(Math.sqrt(f32(f32(1 - alphaProdTPrev) - f32(stdDevT * stdDevT))));
    const sqrtAlphaPrev = f32(Math.sqrt(alphaProdTPrev));

    return tf.tidy(() => {
      let x0: tf.Tensor;
      let eps: tf.Tensor;
      switch (this.cfg<string>('prediction_type')) {
        case 'epsilon':
          x0 = tf.div(tf.sub(sample, tf.mul(modelOutput, sqrtBeta)), sqrtAlpha);
          eps = modelOutput;
          break;
        case 'sample':
          x0 = modelOutput;
          eps = tf.div(tf.sub(sample, tf.mul(x0, sqrtAlpha)), sqrtBeta);
          break;
        default: // v_prediction
          x0 = tf.sub(tf.mul(sample, sqrtAlpha), tf.mul(modelOutput, sqrtBeta));
          eps = tf.add(tf.mul(modelOutput, sqrtAlpha), tf.mul(sample, sqrtBeta));
      }
      if (this.cfg<boolean>('thresholding')) {
        x0 = thresholdSample(x0, this.cfg<number>('dynamic_thresholding_ratio'), this.cfg<number>('sample_max_value'));
      } else if (this.cfg<boolean>('clip_sample')) {
        const range = this.cfg<number>('clip_sample_range');
        x0 = tf.clipByValue(x0, -range, range);
      }
      if (useClipped) eps = tf.div(tf.sub(sample, tf.mul(x0, sqrtAlpha)), sqrtBeta);
      let prev = tf.add(tf.mul(x0, sqrtAlphaPrev), tf.mul(eps, directionCoef));
      if (eta > 0) prev = tf.add(prev, tf.mul(this.noise(sample.shape, opts), stdDevT));
      // x0 may be the caller's modelOutput (prediction_type 'sample'): return a copy the caller owns.
      return { prevSample: prev, predOriginalSample: x0 === modelOutput ? tf.clone(x0) : x0 };
    });
  }
}
