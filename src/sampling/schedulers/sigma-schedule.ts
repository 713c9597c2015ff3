import * as tf from '@tensorflow/tfjs-core';
import { describeValue } from '../../errors';
import { checkTensor } from '../../validate';
import { alphasCumprodOf, diffusersBetas, type BetaConfig } from './betas';
import type { ConfigKey, ConfigSchema } from './config';
import { linspace } from '../../schedules/linspace';
import { f32, numpyInterp, torchLinspaceF32 } from './float32';
import { SchedulerBase } from './scheduler';
import { karrasSigmas, logSigmasF32, sigmaToT, sigmasOfAlphasCumprod } from './sigmas';
import { spacedTimesteps, type TimestepSpacing } from './spacing';

/**
 * What the sigma-space ("k-diffusion") schedulers of diffusers share — Euler, Euler
 * ancestral, Heun, and the same tables LMS and KDPM2 build:
 *
 * - {@link sigmaSchedule}: float32 timesteps spaced over the training ones, the σ at each
 *   (interpolated from σ_t = √((1 − ᾱ_t)/ᾱ_t), optionally Karras σ), and the final σ;
 * - {@link sigmaAlphasCumprod}: ᾱ with the zero-SNR clamp ᾱ_{T−1} = 2⁻²⁴;
 * - {@link SigmaSchedulerBase}: betas/ᾱ, `sigmas`, `initNoiseSigma` and
 *   `scaleModelInput` (x/√(σ²+1)) at the counted step index, as diffusers has them;
 * - {@link unimplementedKey}: the rule of a config key difflib keeps at its neutral value.
 *
 * Every table is computed on the host as diffusers computes it (torch float32, numpy
 * float64; see float32.ts and sigmas.ts).
 * @internal
 */

/** diffusers' `interpolation_type`: σ interpolated at the timesteps, or log-spaced. */
export type SigmaInterpolation = 'linear' | 'log_linear';

/** How {@link sigmaSchedule} places its timesteps and σs (diffusers' config keys, camelCased). @internal */
export interface SigmaScheduleOptions {
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  /** `linear` (default): σ interpolated at each timestep; `log_linear`: see {@link sigmaSchedule}. */
  interpolationType?: SigmaInterpolation;
  /** Karras et al. (2022) σs (ρ = 7) between the end σs, timesteps from σ → t. */
  useKarrasSigmas?: boolean;
  /** Karras σ_min instead of the schedule's last σ. */
  sigmaMin?: number | null;
  /** Karras σ_max instead of the schedule's first σ. */
  sigmaMax?: number | null;
  /** The σ after the last step: `zero` (default) or `sigma_min` = σ(t = 0). */
  finalSigmasType?: 'zero' | 'sigma_min';
}

/** The timesteps (float32 values, descending) and σs (float32, the final σ last) of N steps. @internal */
export interface SigmaSchedule {
  timesteps: Float64Array;
  sigmas: Float32Array;
}

/**
 * ᾱ_t of a sigma scheduler: `cumprod(1 − β)` in float32, with ᾱ_{T−1} set to 2⁻²⁴ after
 * zero-terminal-SNR rescaling (diffusers' Euler / Euler ancestral / DPM-Solver), so that
 * σ_{T−1} = √((1 − 2⁻²⁴)·2²⁴) ≈ 4096 is finite.
 * @internal
 */
export function sigmaAlphasCumprod(betas: Float32Array, zeroTerminalSnr: boolean): Float32Array {
  const alphasCumprod = alphasCumprodOf(betas);
  if (zeroTerminalSnr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return alphasCumprod;
}

/**
 * The N inference timesteps of a sigma scheduler, float32, descending: `linspace` is
 * numpy's float64 linspace(0, T − 1, N) cast to float32 (not rounded, so fractional);
 * `leading` and `trailing` are the integer timesteps of {@link spacedTimesteps}.
 * @internal
 */
export function sigmaTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset: number): Float64Array {
  if (spacing === 'linspace') return Float64Array.from(linspace(0, T - 1, N), f32).reverse();
  return Float64Array.from(spacedTimesteps(spacing, T, N, stepsOffset));
}

/**
 * diffusers' `set_timesteps` of the sigma schedulers: timesteps t_i from
 * {@link sigmaTimesteps}, then σ_i by `interpolationType`:
 * - `linear`: σ(t_i), numpy's float64 interpolation of the training σs (float32);
 * - `log_linear`: N + 1 values exp(linspace(log σ_max, log σ_min)) (torch float32) — as in
 *   diffusers, one more σ than timesteps, so the last step ends at σ_min and the final σ
 *   after it is never reached;
 *
 * with `useKarrasSigmas`, those σs are replaced by N Karras σs between their ends (or
 * `sigmaMin` / `sigmaMax`) and the timesteps by the fractional t of each (σ → t in log σ).
 * The final σ (0 or σ(t = 0)) is appended; σs are cast to float32 last.
 * @internal
 */
export function sigmaSchedule(alphasCumprod: Float32Array, N: number, options: SigmaScheduleOptions): SigmaSchedule {
  const T = alphasCumprod.length;
  let timesteps = sigmaTimesteps(options.timestepSpacing, T, N, options.stepsOffset);
  const trainSigmas = sigmasOfAlphasCumprod(alphasCumprod);
  const logSigmas = logSigmasF32(trainSigmas);
  let sigmas: ArrayLike<number>;
  if ((options.interpolationType ?? 'linear') === 'linear') {
    sigmas = numpyInterp(timesteps, Float64Array.from({ length: T }, (_, i) => i), trainSigmas);
  } else {
    const logMax = f32(Math.log(trainSigmas[T - 1]!));
    const logMin = f32(Math.log(trainSigmas[0]!));
    sigmas = torchLinspaceF32(logMax, logMin, N + 1).map((v) => Math.exp(v));
  }
  if (options.useKarrasSigmas) {
    const sigmaMin = options.sigmaMin ?? sigmas[sigmas.length - 1]!;
    const sigmaMax = options.sigmaMax ?? sigmas[0]!;
    const karras = karrasSigmas(sigmaMin, sigmaMax, N);
    timesteps = Float64Array.from(karras, (s) => f32(sigmaToT(s, logSigmas)));
    sigmas = karras;
  }
  const finalSigma = options.finalSigmasType === 'sigma_min' ? trainSigmas[0]! : 0;
  return { timesteps, sigmas: Float32Array.from([...Array.from(sigmas), finalSigma]) };
}

/**
 * diffusers' `init_noise_sigma` of a sigma scheduler: max σ with `linspace` / `trailing`
 * spacing, √(max σ² + 1) with `leading` (float32).
 * @internal
 */
export function initNoiseSigmaOf(sigmas: ArrayLike<number>, spacing: TimestepSpacing): number {
  let max = -Infinity;
  for (let i = 0; i < sigmas.length; i++) max = Math.max(max, sigmas[i]!);
  return spacing === 'leading' ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
}

/**
 * The rule of a diffusers config key whose other values difflib does not implement: only
 * `neutral` (the default, which changes nothing) is accepted.
 * @internal
 */
export function unimplementedKey(neutral: unknown): ConfigKey {
  return {
    default: neutral,
    check: (v) => (v === neutral ? null : `is not implemented by difflib: only ${JSON.stringify(neutral)} (diffusers' default) is accepted, got ${describeValue(v)}`),
  };
}

/**
 * The base of a sigma-space scheduler: β and ᾱ (float32, zero-SNR clamped where the config
 * asks), the σ table `sigmas` of the last `setTimesteps` (subclasses fill `sigmaValues` in
 * `computeTimesteps`), `initNoiseSigma`, and `scaleModelInput` = x/√(σ²+1) with σ at the
 * step index diffusers would use (the counted index: steps go in order). A subclass's
 * `step` finds its index with `countedIndex` and sets `stepIndex` to the next one when it
 * succeeds.
 * @internal
 */
export abstract class SigmaSchedulerBase extends SchedulerBase {
  /** β_t, float32 as diffusers holds them. */
  readonly betas: Float32Array;
  /** ᾱ_t, float32 (ᾱ_{T−1} = 2⁻²⁴ after zero-SNR rescaling). */
  readonly alphasCumprod: Float32Array;
  /** σ per step and the final σ; set by `computeTimesteps`. */
  protected sigmaValues: Float32Array = new Float32Array(0);

  protected constructor(className: string, schema: ConfigSchema, options: unknown) {
    super(className, schema, options);
    const config = this.config as unknown as BetaConfig;
    this.betas = diffusersBetas(config);
    this.alphasCumprod = sigmaAlphasCumprod(this.betas, config.rescale_betas_zero_snr === true);
  }

  /** σ_t per step (float32), with the final σ last; empty before `setTimesteps`. */
  get sigmas(): ArrayLike<number> {
    return this.sigmaValues;
  }

  /** The standard deviation of x_T (before `setTimesteps`: that of the training σs). */
  get initNoiseSigma(): number {
    const sigmas = this.sigmaValues.length > 0 ? this.sigmaValues : sigmasOfAlphasCumprod(this.alphasCumprod);
    return initNoiseSigmaOf(sigmas, this.cfg<TimestepSpacing>('timestep_spacing'));
  }

  /** The config's {@link SigmaScheduleOptions}. */
  protected scheduleOptions(): SigmaScheduleOptions {
    const c = this.config as Record<string, unknown>;
    return {
      timestepSpacing: c.timestep_spacing as TimestepSpacing,
      stepsOffset: c.steps_offset as number,
      interpolationType: (c.interpolation_type as SigmaInterpolation | undefined) ?? 'linear',
      useKarrasSigmas: c.use_karras_sigmas === true,
      sigmaMin: (c.sigma_min as number | null | undefined) ?? null,
      sigmaMax: (c.sigma_max as number | null | undefined) ?? null,
      finalSigmasType: (c.final_sigmas_type as 'zero' | 'sigma_min' | undefined) ?? 'zero',
    };
  }

  /** x/√(σ²+1), σ at the step index of `t` (the model's input scaling); the caller owns the result. */
  override scaleModelInput(sample: tf.Tensor, t: number): tf.Tensor {
    const fn = `${this.className}.scaleModelInput`;
    this.checkReady(fn);
    checkTensor(fn, 'sample', sample);
    const sigma = this.sigmaValues[this.countedIndex(fn, t)]!;
    const scale = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return tf.tidy(() => tf.div(sample, scale));
  }
}

/** diffusers' `prediction_type`s of the sigma schedulers. @internal */
export type SigmaPredictionType = 'epsilon' | 'v_prediction' | 'sample';

/**
 * The denoised estimate x̂_0 = D(x; σ) from the model's output on x/√(σ²+1), as diffusers'
 * sigma schedulers form it (float32, diffusers' operation order), inside the caller's tidy:
 * - `epsilon`: x − σ·ε̂;
 * - `v_prediction`: v̂·(−σ_v/√(σ_v²+1)) + x/(σ_v²+1) (Euler uses the un-churned σ here);
 * - `sample`: the output itself (the caller's tensor: clone it before returning it).
 * @internal
 */
export function denoisedFromOutput(
  predictionType: SigmaPredictionType,
  modelOutput: tf.Tensor,
  sample: tf.Tensor,
  sigma: number,
  vSigma = sigma,
): tf.Tensor {
  if (predictionType === 'epsilon') return tf.sub(sample, tf.mul(modelOutput, sigma));
  if (predictionType === 'sample') return modelOutput;
  const s2p1 = f32(f32(vSigma * vSigma) + 1);
  const cOut = f32(-vSigma / f32(Math.sqrt(s2p1)));
  return tf.add(tf.mul(modelOutput, cOut), tf.div(sample, s2p1));
}
