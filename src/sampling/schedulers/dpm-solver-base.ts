import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { alphasCumprodOf, diffusersBetas, type BetaConfig } from './betas';
import { boolean, oneOf, positiveNumber, type ConfigKey, type ConfigSchema } from './config';
import { noiseLevel, type NoiseLevel } from './dpm-solver-common';
import { SchedulerBase } from './scheduler';
import { logSigmasF32, sigmasOfAlphasCumprod } from './sigmas';

/** A key diffusers has whose non-default value difflib does not implement: only `neutral` is accepted. @internal */
export function notImplemented(neutral: unknown): ConfigKey {
  return {
    default: neutral,
    check: (v) => (v === neutral ? null : `is not implemented by difflib (only ${JSON.stringify(neutral)} is accepted), got ${describeValue(v)}`),
  };
}

/**
 * Keys the σ-space solvers of diffusers (DPM-Solver, DEIS, UniPC) carry for schedules
 * difflib does not implement (exponential, beta and flow-matching σs, dynamic shifting),
 * each accepted only at its neutral value. `flow_shift` is inert without
 * `use_flow_sigmas` and takes any positive number.
 * @internal
 */
export const UNIMPLEMENTED_SIGMA_KEYS = {
  use_exponential_sigmas: notImplemented(false),
  use_beta_sigmas: notImplemented(false),
  use_flow_sigmas: notImplemented(false),
  flow_shift: { default: 1.0, check: positiveNumber },
  use_dynamic_shifting: notImplemented(false),
  time_shift_type: { default: 'exponential', check: oneOf('exponential') },
} satisfies Record<string, ConfigKey>;

/** `solver_order`: 1, 2 or 3. @internal */
export const SOLVER_ORDER: ConfigKey = { default: 2, check: oneOf(1, 2, 3) };

/** `use_karras_sigmas`. @internal */
export const USE_KARRAS_SIGMAS: ConfigKey = { default: false, check: boolean };

/** `final_sigmas_type`: the σ after the last step, 0 or σ_min = σ(t = 0). @internal */
export const FINAL_SIGMAS_TYPE: ConfigKey = { default: 'zero', check: oneOf('zero', 'sigma_min') };

/** `lambda_min_clipped`: a number, −∞ (the default) for no clipping. @internal */
export const LAMBDA_MIN_CLIPPED: ConfigKey = {
  default: -Infinity,
  check: (v) => (typeof v === 'number' && !Number.isNaN(v) && v !== Infinity ? null : `must be a number below +Infinity (-Infinity for no clipping), got ${describeValue(v)}`),
};

/** `variance_type`: null, or `learned` / `learned_range` for a model whose output has 2C channels (the first C are used). @internal */
export const VARIANCE_TYPE: ConfigKey = { default: null, check: oneOf(null, 'learned', 'learned_range') };

/**
 * What diffusers' exponential-integrator schedulers (DPM-Solver multistep and
 * singlestep, DEIS, and UniPC) share: the training tables (β, ᾱ, σ_t = √((1 − ᾱ)/ᾱ)
 * and log σ_t, float32; with `rescale_betas_zero_snr` ᾱ_T is set to 2⁻²⁴ as diffusers
 * does, so σ_T stays finite), the inference σs (one more than the timesteps), the
 * step counter, and the history of converted model outputs (`solver_order` of them,
 * owned by the scheduler, oldest first).
 *
 * A subclass supplies `schedule(N)` (timesteps and σs) and its `step`; each step looks
 * its σs up by {@link SchedulerBase.countedIndex} and advances `stepIndex` when done.
 * @internal
 */
export abstract class SigmaSolverBase extends SchedulerBase {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  /** β_t, float32 as diffusers holds them. */
  readonly betas: Float32Array;
  /** ᾱ_t, float32 (ᾱ_T = 2⁻²⁴ with zero-terminal-SNR rescaling). */
  readonly alphasCumprod: Float32Array;
  /** σ_t = √((1 − ᾱ_t)/ᾱ_t) per training timestep, float32. */
  protected readonly trainSigmas: Float32Array;
  /** numpy's float32 log of `trainSigmas`. */
  protected readonly logTrainSigmas: Float32Array;
  /** The inference σs of the last `setTimesteps`, float32, one more than the timesteps. */
  protected sigmaValues: Float32Array = new Float32Array(0);
  /** Converted model outputs, oldest first (null before there are enough), owned here. */
  protected modelOutputs: (tf.Tensor | null)[] = [];
  /** How many steps have filled the history (diffusers' `lower_order_nums`, at most solver_order). */
  protected lowerOrderNums = 0;

  protected constructor(className: string, schema: ConfigSchema, options: unknown) {
    super(className, schema, options);
    this.betas = diffusersBetas(this.config as unknown as BetaConfig);
    const alphasCumprod = alphasCumprodOf(this.betas);
    if (this.config.rescale_betas_zero_snr === true) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
    this.alphasCumprod = alphasCumprod;
    this.trainSigmas = sigmasOfAlphasCumprod(alphasCumprod);
    this.logTrainSigmas = logSigmasF32(this.trainSigmas);
  }

  /** σ per inference step, then the final σ (0 or σ_min); empty before `setTimesteps`. */
  get sigmas(): ArrayLike<number> {
    return this.sigmaValues;
  }

  /** The timesteps and the N + 1 σs (float32, the final one included) for N steps. */
  protected abstract schedule(numInferenceSteps: number): { timesteps: number[]; sigmas: Float32Array };

  protected computeTimesteps(numInferenceSteps: number): number[] {
    const { timesteps, sigmas } = this.schedule(numInferenceSteps);
    this.sigmaValues = sigmas;
    // diffusers sets num_inference_steps = len(timesteps) (fewer with `trailing` and clipped λ).
    this.numInferenceSteps = timesteps.length;
    return timesteps;
  }

  /** α, σ_t and λ at inference σ index `i`. */
  protected level(i: number): NoiseLevel {
    return noiseLevel(this.sigmaValues[i]!);
  }

  /** Appends `converted` to the history (a copy, owned here), dropping the oldest. Call inside the step's tidy. */
  protected pushModelOutput(converted: tf.Tensor): void {
    this.release(this.modelOutputs[0]);
    this.modelOutputs = [...this.modelOutputs.slice(1), this.hold(converted)];
  }

  /** The k-th newest converted output (k = 1 is this step's). */
  protected newest(k: number): tf.Tensor {
    return this.modelOutputs[this.modelOutputs.length - k]!;
  }

  protected override onHistoryReleased(): void {
    this.modelOutputs = new Array<tf.Tensor | null>(this.cfg<number>('solver_order')).fill(null);
    this.lowerOrderNums = 0;
  }

  /** Refuses `lambda_min_clipped` above every training λ (it would leave no timestep). */
  protected checkLambdaClip(lastTimestep: number): void {
    if (lastTimestep < 1) {
      const value = this.cfg<number>('lambda_min_clipped');
      throw new DifflibError(
        'INVALID_ARGUMENT',
        this.className,
        'options.lambdaMinClipped',
        `must leave at least one training timestep (it is above every λ_t = log(α_t/σ_t) of the schedule), got ${describeValue(value)}`,
      );
    }
  }
}
