import * as tf from '@tensorflow/tfjs-core';
import { BETA_KEYS, RESCALE_ZERO_SNR, SPACING_KEYS } from './common-keys';
import { oneOf, type ConfigSchema } from './config';
import { f32 } from './float32';
import type { SchedulerStepOptions, SchedulerStepOutput } from './scheduler';
import { denoisedFromOutput, sigmaSchedule, SigmaSchedulerBase, type SigmaPredictionType } from './sigma-schedule';
import type { TimestepSpacing } from './spacing';

/** diffusers' `EulerAncestralDiscreteScheduler` config keys and defaults. */
const EULER_ANCESTRAL_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  // diffusers raises NotImplementedError for `sample` in step(); refused here at construction.
  prediction_type: { default: 'epsilon', check: oneOf('epsilon', 'v_prediction') },
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
};

/** `EulerAncestralDiscreteScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface EulerAncestralDiscreteSchedulerOptions {
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
  /** What the model predicts: `epsilon` (default) or `v_prediction` (diffusers has no `sample` here). */
  predictionType?: 'epsilon' | 'v_prediction';
  /** `linspace` (default), `leading` or `trailing`. */
  timestepSpacing?: TimestepSpacing;
  /** Added to `leading` timesteps (0; Stable Diffusion uses 1). */
  stepsOffset?: number;
  /** Rescale the betas to zero terminal SNR, with ᾱ_{T−1} clamped to 2⁻²⁴ (false). */
  rescaleBetasZeroSnr?: boolean;
}

/**
 * Ancestral Euler (k-diffusion's `sample_euler_ancestral`), diffusers'
 * `EulerAncestralDiscreteScheduler`: an Euler step down to σ_down, then fresh noise up
 * to σ_{i+1}. With x̂_0 = D(x; σ_i) from the model's output on x/√(σ_i²+1),
 *
 * σ_up = √(σ_{i+1}² (σ_i² − σ_{i+1}²)/σ_i²),  σ_down = √(σ_{i+1}² − σ_up²),
 * x_{i+1} = x + (σ_down − σ_i) · (x − x̂_0)/σ_i + σ_up · z.
 *
 * Noise is drawn at every step, the last included (where σ_up = 0).
 *
 * @example
 * ```ts
 * const scheduler = new EulerAncestralDiscreteScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 });
 * scheduler.setTimesteps(30);
 * let x = tf.mul(tf.randomNormal([1, 64, 64, 4]), scheduler.initNoiseSigma);
 * for (const [i, t] of Array.from(scheduler.timesteps).entries()) {
 *   const input = scheduler.scaleModelInput(x, t);
 *   const eps = model(input, t);
 *   const { prevSample, predOriginalSample } = scheduler.step(eps, t, x, { seed: 1000 + i });
 *   tf.dispose([x, input, eps, predOriginalSample!]);
 *   x = prevSample;
 * }
 * ```
 */
export class EulerAncestralDiscreteScheduler extends SigmaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = EULER_ANCESTRAL_SCHEMA;
  readonly order = 1;

  /** @param options - diffusers' config, camelCased; see {@link EulerAncestralDiscreteSchedulerOptions}. */
  constructor(options: EulerAncestralDiscreteSchedulerOptions = {}) {
    super('EulerAncestralDiscreteScheduler', EULER_ANCESTRAL_SCHEMA, options);
  }

  protected computeTimesteps(n: number): Float64Array {
    const { timesteps, sigmas } = sigmaSchedule(this.alphasCumprod, n, this.scheduleOptions());
    this.sigmaValues = sigmas;
    return timesteps;
  }

  /** One ancestral step from σ_i to σ_{i+1}; `options` may hold its `noise` (or a `seed`). */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SchedulerStepOutput {
    const fn = 'EulerAncestralDiscreteScheduler.step';
    const opts = this.checkStep(fn, modelOutput, sample, options, []);
    const i = this.countedIndex(fn, t);
    const sigma = this.sigmaValues[i]!;
    const sigmaTo = this.sigmaValues[i + 1]!;
    const from2 = f32(sigma * sigma);
    const to2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);

    const out = tf.tidy(() => {
      const x0 = denoisedFromOutput(this.cfg<SigmaPredictionType>('prediction_type'), modelOutput, sample, sigma);
      const derivative = tf.div(tf.sub(sample, x0), sigma);
      const prev = tf.add(tf.add(sample, tf.mul(derivative, dt)), tf.mul(this.noise(sample.shape, opts), sigmaUp));
      return { prevSample: prev, predOriginalSample: x0 };
    });
    this.stepIndex = i + 1;
    return out;
  }
}
