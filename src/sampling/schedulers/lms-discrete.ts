import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { BETA_KEYS, PREDICTION_TYPE, SPACING_KEYS } from './common-keys';
import { boolean, type ConfigSchema } from './config';
import { f32 } from './float32';
import { lmsCoefficients } from './lms-coefficients';
import type { SchedulerStepOptions, SchedulerStepOutput } from './scheduler';
import { denoisedFromOutput, sigmaSchedule, SigmaSchedulerBase, unimplementedKey, type SigmaPredictionType } from './sigma-schedule';
import type { TimestepSpacing } from './spacing';

/** diffusers' `LMSDiscreteScheduler` config keys and defaults. */
const LMS_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  use_karras_sigmas: { default: false, check: boolean },
  use_exponential_sigmas: unimplementedKey(false),
  use_beta_sigmas: unimplementedKey(false),
  prediction_type: PREDICTION_TYPE,
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
};

/** `LMSDiscreteScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface LMSDiscreteSchedulerOptions {
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
  /** Karras et al. (2022) σs (ρ = 7) with fractional timesteps (false). */
  useKarrasSigmas?: boolean;
  /** diffusers' exponential σs: not implemented, only `false`. */
  useExponentialSigmas?: boolean;
  /** diffusers' beta σs: not implemented, only `false`. */
  useBetaSigmas?: boolean;
  /** What the model predicts: `epsilon` (default), `sample` (x_0) or `v_prediction`. */
  predictionType?: 'epsilon' | 'sample' | 'v_prediction';
  /** `linspace` (default), `leading` or `trailing`. */
  timestepSpacing?: TimestepSpacing;
  /** Added to `leading` timesteps (0; Stable Diffusion uses 1). */
  stepsOffset?: number;
}

/** What {@link LMSDiscreteScheduler.step} returns: the next sample, x̂_0 and the coefficients used. */
export interface LMSDiscreteStepOutput extends SchedulerStepOutput {
  /** x̂_0 = D(x; σ_i). */
  predOriginalSample: tf.Tensor;
  /** The LMS coefficients of this step (float64, as diffusers' `get_lms_coefficient`); index k multiplies the k-th newest derivative. */
  lmsCoeffs: number[];
}

/**
 * The linear multistep method in σ (k-diffusion's `sample_lms`), diffusers'
 * `LMSDiscreteScheduler`. With x̂_0 = D(x; σ_i) from the model's output on x/√(σ_i²+1)
 * and the derivatives d_j = (x_j − x̂_0,j)/σ_j of the last steps,
 *
 * x_{i+1} = x_i + Σ_{k<m} c_k d_{i−k},  c_k = ∫_{σ_i}^{σ_{i+1}} ℓ_k(τ) dτ,
 *
 * where ℓ_k is the Lagrange basis polynomial of σ_{i−k} over the nodes σ_i, …, σ_{i−m+1}
 * and m = min(i + 1, order) (the `order` step option, 4 by default). The coefficients are
 * diffusers' to the bit (its `scipy.integrate.quad` of the float32 integrand; see
 * `lmsCoeffs`). Timesteps are float32 (fractional with `linspace` spacing or Karras σs);
 * `sigmas` has one more entry than `timesteps` (the final 0).
 *
 * @example
 * ```ts
 * const scheduler = new LMSDiscreteScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 });
 * scheduler.setTimesteps(30);
 * let x = tf.mul(tf.randomNormal([1, 64, 64, 4]), scheduler.initNoiseSigma);
 * for (const t of scheduler.timesteps) {
 *   const input = scheduler.scaleModelInput(x, t);
 *   const eps = model(input, t);
 *   const { prevSample, predOriginalSample } = scheduler.step(eps, t, x, { order: 4 });
 *   tf.dispose([x, input, eps, predOriginalSample]);
 *   x = prevSample;
 * }
 * ```
 */
export class LMSDiscreteScheduler extends SigmaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = LMS_SCHEMA;
  readonly order = 1;
  /** The derivatives of the last steps, oldest first (owned); like diffusers, a step drops the oldest when more than its `order` are held. */
  private derivatives: tf.Tensor[] = [];

  /** @param options - diffusers' config, camelCased; see {@link LMSDiscreteSchedulerOptions}. */
  constructor(options: LMSDiscreteSchedulerOptions = {}) {
    super('LMSDiscreteScheduler', LMS_SCHEMA, options);
  }

  protected computeTimesteps(n: number): Float64Array {
    const { timesteps, sigmas } = sigmaSchedule(this.alphasCumprod, n, this.scheduleOptions());
    this.sigmaValues = sigmas;
    return timesteps;
  }

  protected override onHistoryReleased(): void {
    this.derivatives = [];
  }

  /**
   * One LMS step from σ_i to σ_{i+1}; `options.order` is the method's order (4), lowered
   * to the steps taken so far.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): LMSDiscreteStepOutput {
    const fn = 'LMSDiscreteScheduler.step';
    const opts = this.checkStep(fn, modelOutput, sample, options, ['order']);
    const i = this.countedIndex(fn, t);
    const maxOrder = opts.order ?? 4;
    if (!Number.isSafeInteger(maxOrder) || maxOrder < 1) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.order', `must be a positive integer (the LMS order, 4 by default), got ${describeValue(maxOrder)}`);
    }
    const sigma = this.sigmaValues[i]!;
    const order = Math.min(i + 1, maxOrder);
    const lmsCoeffs = lmsCoefficients(this.sigmaValues, order, i);

    const out = tf.tidy(() => {
      const x0 = denoisedFromOutput(this.cfg<SigmaPredictionType>('prediction_type'), modelOutput, sample, sigma);
      const derivative = tf.div(tf.sub(sample, x0), sigma);
      // diffusers appends, then drops the oldest one when there are more than `order`.
      this.derivatives.push(this.hold(derivative));
      if (this.derivatives.length > maxOrder) this.release(this.derivatives.shift());
      // sample + (c_0·d_newest + c_1·d_next + …), each coefficient cast to float32; diffusers
      // zips the coefficients with the derivatives it holds (fewer if `order` grew).
      const newest = (k: number) => tf.mul(this.derivatives[this.derivatives.length - 1 - k]!, f32(lmsCoeffs[k]!));
      let sum = newest(0);
      for (let k = 1; k < Math.min(lmsCoeffs.length, this.derivatives.length); k++) sum = tf.add(sum, newest(k));
      const prev = tf.add(sample, sum);
      return { prevSample: prev, predOriginalSample: x0 === modelOutput ? tf.clone(x0) : x0 };
    });
    this.stepIndex = i + 1;
    return { ...out, lmsCoeffs };
  }
}
