import * as tf from '@tensorflow/tfjs-core';
import { BETA_KEYS, PREDICTION_TYPE, SPACING_KEYS } from './common-keys';
import { boolean, positiveNumber, type ConfigSchema } from './config';
import { f32 } from './float32';
import type { SchedulerStepOptions, SchedulerStepOutput } from './scheduler';
import { denoisedFromOutput, sigmaSchedule, SigmaSchedulerBase, unimplementedKey, type SigmaPredictionType } from './sigma-schedule';
import type { TimestepSpacing } from './spacing';

/** diffusers' `HeunDiscreteScheduler` config keys and defaults. */
const HEUN_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  beta_start: { ...BETA_KEYS.beta_start, default: 0.00085 },
  beta_end: { ...BETA_KEYS.beta_end, default: 0.012 },
  prediction_type: PREDICTION_TYPE,
  use_karras_sigmas: { default: false, check: boolean },
  use_exponential_sigmas: unimplementedKey(false),
  use_beta_sigmas: unimplementedKey(false),
  clip_sample: { default: false, check: boolean },
  clip_sample_range: { default: 1.0, check: positiveNumber },
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
};

/** `HeunDiscreteScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface HeunDiscreteSchedulerOptions {
  /** T, the training steps (1000). */
  numTrainTimesteps?: number;
  /** β_1 of `linear` / `scaled_linear` (0.00085). */
  betaStart?: number;
  /** β_T of `linear` / `scaled_linear` (0.012). */
  betaEnd?: number;
  /** `linear` (default), `scaled_linear` (Stable Diffusion) or `squaredcos_cap_v2` (cosine). */
  betaSchedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Betas to use instead of a named schedule. */
  trainedBetas?: ArrayLike<number> | null;
  /** What the model predicts: `epsilon` (default), `sample` (x_0) or `v_prediction`. */
  predictionType?: 'epsilon' | 'sample' | 'v_prediction';
  /** Karras et al. (2022) σs (ρ = 7) with fractional timesteps (false). */
  useKarrasSigmas?: boolean;
  /** diffusers' exponential σs: not implemented, only `false`. */
  useExponentialSigmas?: boolean;
  /** diffusers' beta σs: not implemented, only `false`. */
  useBetaSigmas?: boolean;
  /** Clip x̂_0 to ±clipSampleRange (false). */
  clipSample?: boolean;
  /** The clipping range of x̂_0 (1). */
  clipSampleRange?: number;
  /** `linspace` (default), `leading` or `trailing`. */
  timestepSpacing?: TimestepSpacing;
  /** Added to `leading` timesteps (0). */
  stepsOffset?: number;
}

/** What {@link HeunDiscreteScheduler.step} returns: also which stage ran. */
export interface HeunDiscreteStepOutput extends SchedulerStepOutput {
  /** 1 for the first (Euler) stage of a step, 2 for the second (the trapezoidal correction). */
  order: 1 | 2;
}

/**
 * Heun's second-order method in σ (Karras et al. 2022, Algorithm 1 with γ = 0;
 * k-diffusion's `sample_heun`), diffusers' `HeunDiscreteScheduler`. Each step from σ_i to
 * σ_{i+1} calls the model twice; with d(x, σ) = (x − D(x; σ))/σ,
 *
 * x̃ = x_i + (σ_{i+1} − σ_i) d(x_i, σ_i),
 * x_{i+1} = x_i + (σ_{i+1} − σ_i) · (d(x_i, σ_i) + d(x̃, σ_{i+1}))/2,
 *
 * except the last step, to σ = 0, which is a plain Euler step. So `timesteps` is
 * [t_0, t_1, t_1, t_2, t_2, …, t_{N−1}, t_{N−1}] (2N − 1 model calls; `sigmas` doubled alike)
 * and each call is one `step`: the first stage returns x̃ (and keeps x_i and d until the
 * second), the second returns x_{i+1}. `order` in the output says which stage ran.
 *
 * @example
 * ```ts
 * const scheduler = new HeunDiscreteScheduler({ betaSchedule: 'scaled_linear', useKarrasSigmas: true });
 * scheduler.setTimesteps(15); // 29 model calls
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
export class HeunDiscreteScheduler extends SigmaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = HEUN_SCHEMA;
  readonly order = 2;
  /** The first stage's sample x_i, derivative d and Δσ, kept for the second stage. */
  private firstStage: { sample: tf.Tensor; derivative: tf.Tensor; dt: number } | null = null;

  /** @param options - diffusers' config, camelCased; see {@link HeunDiscreteSchedulerOptions}. */
  constructor(options: HeunDiscreteSchedulerOptions = {}) {
    super('HeunDiscreteScheduler', HEUN_SCHEMA, options);
  }

  protected computeTimesteps(n: number): Float64Array {
    const { timesteps, sigmas } = sigmaSchedule(this.alphasCumprod, n, this.scheduleOptions());
    // σ: [σ_0, σ_1, σ_1, …, σ_{N−1}, σ_{N−1}, 0]; t: [t_0, t_1, t_1, …, t_{N−1}, t_{N−1}].
    this.sigmaValues = Float32Array.from({ length: 2 * n }, (_, k) => sigmas[Math.ceil(k / 2)]!);
    return Float64Array.from({ length: 2 * n - 1 }, (_, k) => timesteps[Math.ceil(k / 2)]!);
  }

  protected override onHistoryReleased(): void {
    this.firstStage = null;
  }

  /** One stage of a Heun step (see the class); no step options besides `noise`/`seed`, which it ignores. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): HeunDiscreteStepOutput {
    const fn = 'HeunDiscreteScheduler.step';
    this.checkStep(fn, modelOutput, sample, options, []);
    const i = this.countedIndex(fn, t);
    const first = this.firstStage;
    // The first stage runs from σ_i to σ_{i+1}; the second evaluated the model at σ_{i+1}.
    const sigma = first === null ? this.sigmaValues[i]! : this.sigmaValues[i - 1]!;
    const sigmaNext = first === null ? this.sigmaValues[i + 1]! : this.sigmaValues[i]!;
    const predictionType = this.cfg<SigmaPredictionType>('prediction_type');
    const clip = this.cfg<boolean>('clip_sample') ? this.cfg<number>('clip_sample_range') : null;
    const lastCall = i === this.timestepValues.length - 1;

    const out = tf.tidy(() => {
      let x0 = denoisedFromOutput(predictionType, modelOutput, sample, first === null ? sigma : sigmaNext);
      if (clip !== null) x0 = tf.clipByValue(x0, -clip, clip);
      const predOriginalSample = x0 === modelOutput ? tf.clone(x0) : x0;
      if (first === null) {
        const derivative = tf.div(tf.sub(sample, x0), sigma);
        const dt = f32(sigmaNext - sigma);
        // After the last call (an Euler step to σ = 0) no second stage can follow: keep nothing.
        if (!lastCall) this.firstStage = { sample: this.hold(sample), derivative: this.hold(derivative), dt };
        return { prevSample: tf.add(sample, tf.mul(derivative, dt)), predOriginalSample, order: 1 as const };
      }
      const derivative = tf.div(tf.add(first.derivative, tf.div(tf.sub(sample, x0), sigmaNext)), 2);
      const prevSample = tf.add(first.sample, tf.mul(derivative, first.dt));
      return { prevSample, predOriginalSample, order: 2 as const };
    });
    if (first !== null) {
      this.release(first.sample);
      this.release(first.derivative);
      this.firstStage = null;
    }
    this.stepIndex = i + 1;
    return out;
  }
}
