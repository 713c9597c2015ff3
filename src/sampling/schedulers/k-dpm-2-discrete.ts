import * as tf from '@tensorflow/tfjs-core';
import { describeValue } from '../../errors';
import { checkTensor } from '../../validate';
import { BETA_KEYS, SPACING_KEYS } from './common-keys';
import { boolean, type ConfigSchema } from './config';
import { f32, roundHalfEven } from './float32';
import type { SchedulerStepOptions, SchedulerStepOutput } from './scheduler';
import { denoisedFromOutput, sigmaSchedule, SigmaSchedulerBase, unimplementedKey } from './sigma-schedule';
import { karrasSigmas, logSigmasF32, sigmasOfAlphasCumprod, sigmaToT } from './sigmas';
import type { TimestepSpacing } from './spacing';

/** diffusers' `KDPM2DiscreteScheduler` config keys and defaults. */
const KDPM2_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  beta_start: { ...BETA_KEYS.beta_start, default: 0.00085 },
  beta_end: { ...BETA_KEYS.beta_end, default: 0.012 },
  use_karras_sigmas: { default: false, check: boolean },
  use_exponential_sigmas: unimplementedKey(false),
  use_beta_sigmas: unimplementedKey(false),
  prediction_type: {
    default: 'epsilon',
    check: (v) =>
      v === 'epsilon' || v === 'v_prediction'
        ? null
        : `must be "epsilon" or "v_prediction" (KDPM2 has no "sample" prediction; diffusers raises NotImplementedError for it), got ${describeValue(v)}`,
  },
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
};

/** `KDPM2DiscreteScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface KDPM2DiscreteSchedulerOptions {
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
  /** Karras et al. (2022) σs (ρ = 7), their timesteps rounded to integers (false). */
  useKarrasSigmas?: boolean;
  /** diffusers' exponential σs: not implemented, only `false`. */
  useExponentialSigmas?: boolean;
  /** diffusers' beta σs: not implemented, only `false`. */
  useBetaSigmas?: boolean;
  /** What the model predicts: `epsilon` (default) or `v_prediction` (diffusers has no `sample` here). */
  predictionType?: 'epsilon' | 'v_prediction';
  /** `linspace` (default), `leading` or `trailing`. */
  timestepSpacing?: TimestepSpacing;
  /** Added to `leading` timesteps (0; Stable Diffusion uses 1). */
  stepsOffset?: number;
}

/** What {@link KDPM2DiscreteScheduler.step} returns: the next sample, x̂_0 and the stage. */
export interface KDPM2DiscreteStepOutput extends SchedulerStepOutput {
  /** x̂_0 = D(x; σ) at this call's σ (σ_i in the first stage, σ̃_{i+1} in the second). */
  predOriginalSample: tf.Tensor;
  /** 1 for the first stage (x_i → σ̃_{i+1}), 2 for the second (x_i → x_{i+1}). */
  order: number;
}

/**
 * DPM-Solver-2 in σ (Lu et al. 2022; k-diffusion's `sample_dpm_2`), diffusers'
 * `KDPM2DiscreteScheduler`: two model calls per step, the second at the log-midpoint
 * σ̃_{i+1} = exp((log σ_i + log σ_{i+1})/2). With d(x; σ) = (x − D(x; σ))/σ,
 *
 * x̃ = x_i + (σ̃_{i+1} − σ_i) · d(x_i; σ_i),
 * x_{i+1} = x_i + (σ_{i+1} − σ_i) · d(x̃; σ̃_{i+1}).
 *
 * The timesteps interleave the midpoints' (fractional) timesteps,
 * `[t_0, t̃_1, t_1, t̃_2, t_2, …, t_{N−1}]` (2N − 1 model calls; call `step` once per
 * timestep); the last call is an Euler step to σ = 0. `sigmas` and `sigmasInterpol` are
 * diffusers' interleaved tables.
 *
 * @example
 * ```ts
 * const scheduler = new KDPM2DiscreteScheduler({ betaSchedule: 'scaled_linear' });
 * scheduler.setTimesteps(20); // 39 model calls
 * let x = tf.mul(tf.randomNormal([1, 64, 64, 4]), scheduler.initNoiseSigma);
 * for (const t of scheduler.timesteps) {
 *   const input = scheduler.scaleModelInput(x, t);
 *   const eps = model(input, t);
 *   const { prevSample, predOriginalSample } = scheduler.step(eps, t, x);
 *   tf.dispose([x, input, eps, predOriginalSample]);
 *   x = prevSample;
 * }
 * ```
 */
export class KDPM2DiscreteScheduler extends SigmaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = KDPM2_SCHEMA;
  readonly order = 2;
  private interpolValues: Float32Array = new Float32Array(0);
  /** The first stage's x_i, owned until the second stage (null: the next call is a first stage). */
  private firstStageSample: tf.Tensor | null = null;

  /** @param options - diffusers' config, camelCased; see {@link KDPM2DiscreteSchedulerOptions}. */
  constructor(options: KDPM2DiscreteSchedulerOptions = {}) {
    super('KDPM2DiscreteScheduler', KDPM2_SCHEMA, options);
  }

  /** σ̃ per call, interleaved like `sigmas` (`[NaN, σ̃_1, σ̃_1, …, 0, 0, 0]`, float32); empty before `setTimesteps`. */
  get sigmasInterpol(): ArrayLike<number> {
    return this.interpolValues;
  }

  protected computeTimesteps(n: number): Float64Array {
    let { timesteps, sigmas } = sigmaSchedule(this.alphasCumprod, n, { ...this.scheduleOptions(), useKarrasSigmas: false });
    const logSigmas = logSigmasF32(sigmasOfAlphasCumprod(this.alphasCumprod));
    if (this.cfg<boolean>('use_karras_sigmas')) {
      // diffusers rounds the Karras timesteps (numpy, half to even) and keeps them float64.
      const k = karrasSigmas(sigmas[n - 1]!, sigmas[0]!, n);
      timesteps = Float64Array.from(k, (s) => roundHalfEven(sigmaToT(s, logSigmas)));
      sigmas = Float32Array.from([...Array.from(k), 0]);
    }
    // σ̃_i = exp(lerp(log σ_i, log σ_{i−1}, ½)) in float32, with σ_{−1} = σ_N = 0 (torch's roll):
    // torch's lerp at ½ is end − (end − start)·½, so σ̃_0 = NaN and σ̃_N = 0.
    const logs = sigmas.map((s) => Math.log(s));
    const interpol = logs.map((start, i) => {
      const end = logs[(i + n) % (n + 1)]!;
      return Math.exp(f32(end - f32(end - start) * 0.5));
    });
    const interleave = (v: Float32Array) => Float32Array.from([v[0]!, ...Array.from(v.subarray(1)).flatMap((x) => [x, x]), v[n]!]);
    this.sigmaValues = interleave(sigmas);
    this.interpolValues = interleave(interpol);
    // The midpoints' timesteps are float32 values (also in diffusers' float64 Karras tensor).
    const out = [timesteps[0]!];
    for (let i = 1; i < n; i++) out.push(f32(sigmaToT(interpol[i]!, logSigmas)), timesteps[i]!);
    return Float64Array.from(out);
  }

  protected override onHistoryReleased(): void {
    this.firstStageSample = null;
  }

  /** x/√(σ²+1) with σ = σ_i in the first stage and σ̃_{i+1} in the second; the caller owns the result. */
  override scaleModelInput(sample: tf.Tensor, t: number): tf.Tensor {
    const fn = 'KDPM2DiscreteScheduler.scaleModelInput';
    this.checkReady(fn);
    checkTensor(fn, 'sample', sample);
    const i = this.countedIndex(fn, t);
    const sigma = (this.firstStageSample === null ? this.sigmaValues : this.interpolValues)[i]!;
    const scale = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return tf.tidy(() => tf.div(sample, scale));
  }

  /** One stage of a DPM-Solver-2 step (which one follows from the calls so far). */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): KDPM2DiscreteStepOutput {
    const fn = 'KDPM2DiscreteScheduler.step';
    this.checkStep(fn, modelOutput, sample, options, []);
    const i = this.countedIndex(fn, t);
    const first = this.firstStageSample === null;
    const sigmas = this.sigmaValues;
    const sigma = first ? sigmas[i]! : sigmas[i - 1]!;
    const sigmaInterpol = first ? this.interpolValues[i + 1]! : this.interpolValues[i]!;
    const sigmaNext = first ? sigmas[i + 1]! : sigmas[i]!;
    const sigmaInput = first ? sigma : sigmaInterpol;
    const dt = f32((first ? sigmaInterpol : sigmaNext) - sigma);
    const predictionType = this.cfg<'epsilon' | 'v_prediction'>('prediction_type');

    const out = tf.tidy(() => {
      const x0 = denoisedFromOutput(predictionType, modelOutput, sample, sigmaInput);
      const derivative = tf.div(tf.sub(sample, x0), sigmaInput);
      const from = first ? sample : this.firstStageSample!;
      const prev = tf.add(from, tf.mul(derivative, dt));
      if (first) this.firstStageSample = this.hold(sample);
      else {
        this.release(this.firstStageSample);
        this.firstStageSample = null;
      }
      return { prevSample: prev, predOriginalSample: x0 };
    });
    this.stepIndex = i + 1;
    return { ...out, order: first ? 1 : 2 };
  }
}
