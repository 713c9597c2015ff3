import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { BETA_KEYS, PREDICTION_TYPE, RESCALE_ZERO_SNR, SPACING_KEYS } from './common-keys';
import { boolean, nullOr, oneOf, positiveNumber, type ConfigSchema } from './config';
import { f32 } from './float32';
import type { SchedulerStepOptions, SchedulerStepOutput } from './scheduler';
import { denoisedFromOutput, sigmaSchedule, SigmaSchedulerBase, unimplementedKey, type SigmaPredictionType } from './sigma-schedule';
import type { TimestepSpacing } from './spacing';

/** diffusers' `EulerDiscreteScheduler` config keys and defaults. */
const EULER_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  prediction_type: PREDICTION_TYPE,
  interpolation_type: { default: 'linear', check: oneOf('linear', 'log_linear') },
  use_karras_sigmas: { default: false, check: boolean },
  use_exponential_sigmas: unimplementedKey(false),
  use_beta_sigmas: unimplementedKey(false),
  sigma_min: { default: null, check: nullOr(positiveNumber) },
  sigma_max: { default: null, check: nullOr(positiveNumber) },
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  timestep_type: unimplementedKey('discrete'),
  steps_offset: SPACING_KEYS.steps_offset,
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
  final_sigmas_type: { default: 'zero', check: oneOf('zero', 'sigma_min') },
};

/** `EulerDiscreteScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface EulerDiscreteSchedulerOptions {
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
  /**
   * `linear` (default): σ interpolated at each timestep; `log_linear`: N + 1 log-spaced σs
   * from σ_max to σ_min, as diffusers makes them (the last step then ends at σ_min).
   */
  interpolationType?: 'linear' | 'log_linear';
  /** Karras et al. (2022) σs (ρ = 7) with fractional timesteps (false). */
  useKarrasSigmas?: boolean;
  /** diffusers' exponential σs: not implemented, only `false`. */
  useExponentialSigmas?: boolean;
  /** diffusers' beta σs: not implemented, only `false`. */
  useBetaSigmas?: boolean;
  /** Karras σ_min (default: the schedule's smallest σ). */
  sigmaMin?: number | null;
  /** Karras σ_max (default: the schedule's largest σ). */
  sigmaMax?: number | null;
  /** `linspace` (default), `leading` or `trailing`. */
  timestepSpacing?: TimestepSpacing;
  /** diffusers' timestep type: only `discrete` (EDM `continuous` is not implemented). */
  timestepType?: 'discrete';
  /** Added to `leading` timesteps (0; Stable Diffusion uses 1). */
  stepsOffset?: number;
  /** Rescale the betas to zero terminal SNR, with ᾱ_{T−1} clamped to 2⁻²⁴ (false). */
  rescaleBetasZeroSnr?: boolean;
  /** The σ after the last step: `zero` (default) or `sigma_min`, σ(t = 0). */
  finalSigmasType?: 'zero' | 'sigma_min';
}

/**
 * Euler's method in σ (Karras et al. 2022, Algorithm 2; k-diffusion's `sample_euler`),
 * diffusers' `EulerDiscreteScheduler`. With x̂_0 = D(x; σ̂) from the model's output on
 * x/√(σ²+1),
 *
 * σ̂ = σ_i (1 + γ),  x̂ = x + √(σ̂² − σ_i²) · s_noise · z  (only when γ > 0),
 * x_{i+1} = x̂ + (σ_{i+1} − σ̂) · (x̂ − x̂_0)/σ̂,
 *
 * where the churn γ = min(s_churn/(len(σ) − 1), √2 − 1) for s_tmin ≤ σ_i ≤ s_tmax, else 0
 * (noise is drawn only then). Timesteps are float32 (fractional with `linspace` spacing
 * or Karras σs); `sigmas` has one more entry than `timesteps` (the final σ).
 *
 * @example
 * ```ts
 * const scheduler = new EulerDiscreteScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 });
 * scheduler.setTimesteps(30);
 * let x = tf.mul(tf.randomNormal([1, 64, 64, 4]), scheduler.initNoiseSigma);
 * for (const t of scheduler.timesteps) {
 *   const input = scheduler.scaleModelInput(x, t);
 *   const eps = model(input, t);
 *   const { prevSample, predOriginalSample } = scheduler.step(eps, t, x);
 *   tf.dispose([x, input, eps, predOriginalSample!]);
 *   x = prevSample;
 * }
 * ```
 */
export class EulerDiscreteScheduler extends SigmaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = EULER_SCHEMA;
  readonly order = 1;

  /** @param options - diffusers' config, camelCased; see {@link EulerDiscreteSchedulerOptions}. */
  constructor(options: EulerDiscreteSchedulerOptions = {}) {
    super('EulerDiscreteScheduler', EULER_SCHEMA, options);
  }

  protected computeTimesteps(n: number): Float64Array {
    const { timesteps, sigmas } = sigmaSchedule(this.alphasCumprod, n, this.scheduleOptions());
    this.sigmaValues = sigmas;
    return timesteps;
  }

  /**
   * One Euler step from σ_i to σ_{i+1}; `options` may hold the churn `sChurn` (0), `sTmin`
   * (0), `sTmax` (∞), `sNoise` (1), and the `noise` (or `seed`) of a churned step.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SchedulerStepOutput {
    const fn = 'EulerDiscreteScheduler.step';
    const opts = this.checkStep(fn, modelOutput, sample, options, ['sChurn', 'sTmin', 'sTmax', 'sNoise']);
    const i = this.countedIndex(fn, t);
    const sChurn = stepNumber(fn, 'sChurn', opts.sChurn, 0, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
    const sTmin = stepNumber(fn, 'sTmin', opts.sTmin, 0, (v) => !Number.isNaN(v), 'a number');
    const sTmax = stepNumber(fn, 'sTmax', opts.sTmax, Infinity, (v) => !Number.isNaN(v), 'a number');
    const sNoise = stepNumber(fn, 'sNoise', opts.sNoise, 1, Number.isFinite, 'a finite number');
    const sigmas = this.sigmaValues;
    const sigma = sigmas[i]!;
    const gamma = f32(sTmin) <= sigma && sigma <= f32(sTmax) ? Math.min(sChurn / (sigmas.length - 1), Math.SQRT2 - 1) : 0;
    const sigmaHat = f32(sigma * f32(gamma + 1));
    const churn = f32(Math.sqrt(f32(f32(sigmaHat * sigmaHat) - f32(sigma * sigma))));
    const dt = f32(sigmas[i + 1]! - sigmaHat);

    const out = tf.tidy(() => {
      let x = sample;
      if (gamma > 0) x = tf.add(x, tf.mul(tf.mul(this.noise(sample.shape, opts), f32(sNoise)), churn));
      const x0 = denoisedFromOutput(this.cfg<SigmaPredictionType>('prediction_type'), modelOutput, x, sigmaHat, sigma);
      const derivative = tf.div(tf.sub(x, x0), sigmaHat);
      const prev = tf.add(x, tf.mul(derivative, dt));
      return { prevSample: prev, predOriginalSample: x0 === modelOutput ? tf.clone(x0) : x0 };
    });
    this.stepIndex = i + 1;
    return out;
  }
}

/** A step option's value (`fallback` when absent), refused unless `ok`. */
function stepNumber(fn: string, name: string, value: unknown, fallback: number, ok: (v: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !ok(value)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, `must be ${expected}, got ${describeValue(value)}`);
  }
  return value;
}
