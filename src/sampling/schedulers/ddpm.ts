import * as tf from '@tensorflow/tfjs-core';
import { DifflibError } from '../../errors';
import { shapeString } from '../../validate';
import { AlphaSchedulerBase } from './alpha-scheduler';
import { BETA_KEYS, PREDICTION_TYPE, RESCALE_ZERO_SNR, SPACING_KEYS, THRESHOLD_KEYS } from './common-keys';
import { boolean, oneOf, positiveNumber, type ConfigSchema } from './config';
import { f32 } from './float32';
import { predictOriginalSample, type OriginalSampleConfig } from './original-sample';
import { type SchedulerStepOptions, type SchedulerStepOutput } from './scheduler';
import { spacedTimesteps, type TimestepSpacing } from './spacing';

/** diffusers' `variance_type` values difflib implements. */
export type DDPMVarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large' | 'learned' | 'learned_range';

const VARIANCE_TYPES = ['fixed_small', 'fixed_small_log', 'fixed_large', 'learned', 'learned_range'] as const;

function varianceType(v: unknown): string | null {
  if (v === 'fixed_large_log') {
    return 'is not implemented by difflib as "fixed_large_log": diffusers\' DDPMScheduler.step takes the square root of log β_t < 0 as the noise scale, which is NaN; use "fixed_large"';
  }
  return oneOf(...VARIANCE_TYPES)(v);
}

/** diffusers' `DDPMScheduler` config keys and defaults. */
const DDPM_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  variance_type: { default: 'fixed_small', check: varianceType },
  clip_sample: { default: true, check: boolean },
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  clip_sample_range: { default: 1.0, check: positiveNumber },
  timestep_spacing: SPACING_KEYS.timestep_spacing,
  steps_offset: SPACING_KEYS.steps_offset,
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
};

/** `DDPMScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface DDPMSchedulerOptions {
  /** T, the training steps (1000). */
  numTrainTimesteps?: number;
  /** β_1 of `linear` / `scaled_linear` (0.0001). */
  betaStart?: number;
  /** β_T of `linear` / `scaled_linear` (0.02). */
  betaEnd?: number;
  /** `linear` (default), `scaled_linear` (Stable Diffusion) or `squaredcos_cap_v2` (cosine). */
  betaSchedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Betas to use instead of a named schedule, `numTrainTimesteps` of them. */
  trainedBetas?: ArrayLike<number> | null;
  /**
   * The variance of each step's noise: `fixed_small` (default, the posterior variance
   * β̃_t), `fixed_small_log` (the same through its log), `fixed_large` (β_t), `learned`
   * (the model's extra channels are the variance) or `learned_range` (they interpolate
   * log β̃_t and log β_t by (v + 1)/2). The learned ones take a model output with twice
   * the sample's channels on the last axis.
   */
  varianceType?: DDPMVarianceType;
  /** Clip x̂_0 to ±clipSampleRange (true). */
  clipSample?: boolean;
  /** What the model predicts: `epsilon` (default), `sample` (x_0) or `v_prediction`. */
  predictionType?: 'epsilon' | 'sample' | 'v_prediction';
  /** Dynamic thresholding of x̂_0 instead of clipping (false). */
  thresholding?: boolean;
  /** Quantile of |x̂_0| that thresholding scales by (0.995). */
  dynamicThresholdingRatio?: number;
  /** The clipping range of x̂_0 (1). */
  clipSampleRange?: number;
  /** Largest threshold (1). */
  sampleMaxValue?: number;
  /** `leading` (default), `trailing` or `linspace`. */
  timestepSpacing?: 'leading' | 'trailing' | 'linspace';
  /** Added to `leading` timesteps (0). */
  stepsOffset?: number;
  /** Rescale the betas to zero terminal SNR (false). */
  rescaleBetasZeroSnr?: boolean;
}

/**
 * DDPM ancestral sampling (Ho et al. 2020), diffusers' `DDPMScheduler`: with s the next
 * timestep (−1 after the last, where ᾱ_s = 1), β'_t = 1 − ᾱ_t/ᾱ_s and x̂_0 from the model,
 *
 * x_s = √ᾱ_s β'_t/(1 − ᾱ_t) · x̂_0 + √(1 − β'_t)(1 − ᾱ_s)/(1 − ᾱ_t) · x_t + σ_t z,
 *
 * σ_t² = β̃_t = (1 − ᾱ_s)/(1 − ᾱ_t) · β'_t (`fixed_small`), β'_t (`fixed_large`), or
 * learned; noise is drawn only for t > 0.
 *
 * @example
 * ```ts
 * const scheduler = new DDPMScheduler({ betaSchedule: 'squaredcos_cap_v2', varianceType: 'learned_range' });
 * scheduler.setTimesteps(100);
 * let x = tf.randomNormal([1, 32, 32, 3]);
 * for (const t of scheduler.timesteps) {
 *   const out = model(x, t); // [1, 32, 32, 6]: ε̂ and the variance interpolation v
 *   const { prevSample, predOriginalSample } = scheduler.step(out, t, x);
 *   tf.dispose([x, out, predOriginalSample!]);
 *   x = prevSample;
 * }
 * ```
 */
export class DDPMScheduler extends AlphaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = DDPM_SCHEMA;
  /** diffusers' `order`: 1 (one model call per `step`). */
  readonly order = 1;
  /** 1: x_T is unit Gaussian noise. */
  readonly initNoiseSigma = 1;

  /** @param options - diffusers' config, camelCased; see {@link DDPMSchedulerOptions}. */
  constructor(options: DDPMSchedulerOptions = {}) {
    super('DDPMScheduler', DDPM_SCHEMA, options);
  }


  protected computeTimesteps(n: number): number[] {
    const T = this.cfg<number>('num_train_timesteps');
    return spacedTimesteps(this.cfg<TimestepSpacing>('timestep_spacing'), T, n, this.cfg<number>('steps_offset'));
  }

  /**
   * One ancestral step from x_t to x at the next timestep. With a learned variance,
   * `modelOutput` is [..., 2C]: the prediction, then the variance channels.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SchedulerStepOutput {
    const fn = 'DDPMScheduler.step';
    const varianceType = this.cfg<DDPMVarianceType>('variance_type');
    const learned = varianceType === 'learned' || varianceType === 'learned_range';
    const opts = this.checkStep(fn, modelOutput, sample, options, [], learned);
    if (learned && modelOutput.shape[modelOutput.rank - 1] !== 2 * sample.shape[sample.rank - 1]!) {
      const doubled = [...sample.shape.slice(0, -1), 2 * sample.shape[sample.rank - 1]!];
      throw new DifflibError('SHAPE_MISMATCH', fn, 'modelOutput', `must have shape ${shapeString(doubled)} (twice sample's channels: the prediction, then the variance) with variance_type "${varianceType}", got ${shapeString(modelOutput.shape)}`);
    }
    const i = this.indexOf(fn, t);
    const prevT = i + 1 < this.timestepValues.length ? this.timestepValues[i + 1]! : -1;

    const alphaProdT = this.alphasCumprod[t]!;
    const alphaProdTPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1;
    const betaProdT = f32(1 - alphaProdT);
    const betaProdTPrev = f32(1 - alphaProdTPrev);
    const currentAlphaT = f32(alphaProdT / alphaProdTPrev);
    const currentBetaT = f32(1 - currentAlphaT);
    const x0Coeff = f32(f32(f32(Math.sqrt(alphaProdTPrev)) * currentBetaT) / betaProdT);
    const sampleCoeff = f32(f32(f32(Math.sqrt(currentAlphaT)) * betaProdTPrev) / betaProdT);
    // β̃_t, clamped as diffusers does before any log.
    const posterior = Math.max(f32(f32(betaProdTPrev / betaProdT) * currentBetaT), f32(1e-20));

    return tf.tidy(() => {
      const [prediction, predictedVariance] = learned ? tf.split(modelOutput, 2, -1) : [modelOutput, undefined];
      const x0 = predictOriginalSample(this.config as unknown as OriginalSampleConfig, prediction!, sample, alphaProdT);
      let prev = tf.add(tf.mul(x0, x0Coeff), tf.mul(sample, sampleCoeff));
      if (t > 0) {
        const noise = this.noise(sample.shape, opts);
        prev = tf.add(prev, tf.mul(this.noiseScale(varianceType, posterior, currentBetaT, predictedVariance), noise));
      }
      // x0 may be the caller's modelOutput (prediction_type 'sample'): return a copy the caller owns.
      return { prevSample: prev, predOriginalSample: x0 === modelOutput ? tf.clone(x0) : x0 };
    });
  }

  /** σ_t, the scale of the step's noise (a number, or a tensor for a learned variance). */
  private noiseScale(varianceType: DDPMVarianceType, posterior: number, currentBetaT: number, predictedVariance?: tf.Tensor): number | tf.Tensor {
    switch (varianceType) {
      case 'fixed_small':
        return f32(Math.sqrt(posterior));
      case 'fixed_small_log':
        return f32(Math.exp(f32(0.5 * f32(Math.log(posterior)))));
      case 'fixed_large':
        return f32(Math.sqrt(currentBetaT));
      case 'learned':
        return tf.sqrt(predictedVariance!);
      default: {
        // learned_range: log σ² = frac·log β'_t + (1 − frac)·log β̃_t, frac = (v + 1)/2.
        const minLog = f32(Math.log(posterior));
        const maxLog = f32(Math.log(currentBetaT));
        const frac = tf.div(tf.add(predictedVariance!, 1), 2);
        const logVariance = tf.add(tf.mul(frac, maxLog), tf.mul(tf.sub(1, frac), minLog));
        return tf.exp(tf.mul(logVariance, 0.5));
      }
    }
  }
}
