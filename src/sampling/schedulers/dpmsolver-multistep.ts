import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { BETA_KEYS, PREDICTION_TYPE, RESCALE_ZERO_SNR, SPACING_KEYS, THRESHOLD_KEYS } from './common-keys';
import { boolean, oneOf, type ConfigSchema } from './config';
import {
  FINAL_SIGMAS_TYPE,
  LAMBDA_MIN_CLIPPED,
  SigmaSolverBase,
  SOLVER_ORDER,
  UNIMPLEMENTED_SIGMA_KEYS,
  USE_KARRAS_SIGMAS,
  VARIANCE_TYPE,
  notImplemented,
} from './dpm-solver-base';
import { clippedLastTimestep, convertModelOutput, expF32, firstOrderUpdate, karrasSchedule, multistepTimesteps, secondOrderUpdate, sigmasAtTimesteps, type ConvertOptions, type DPMSolverAlgorithm, type DPMSolverType, type NoiseLevel, type PredictionType, type SolverStepOutput, type SolverScheduleOptions } from './dpm-solver-common';
import { f32 } from './float32';
import type { SchedulerStepOptions } from './scheduler';
import type { TimestepSpacing } from './spacing';

/** diffusers' `DPMSolverMultistepScheduler` config keys and defaults. */
const DPM_MULTISTEP_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  solver_order: SOLVER_ORDER,
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  algorithm_type: { default: 'dpmsolver++', check: oneOf('dpmsolver++', 'dpmsolver', 'sde-dpmsolver++', 'sde-dpmsolver') },
  solver_type: { default: 'midpoint', check: oneOf('midpoint', 'heun') },
  lower_order_final: { default: true, check: boolean },
  euler_at_final: { default: false, check: boolean },
  use_karras_sigmas: USE_KARRAS_SIGMAS,
  use_lu_lambdas: notImplemented(false),
  ...UNIMPLEMENTED_SIGMA_KEYS,
  final_sigmas_type: FINAL_SIGMAS_TYPE,
  lambda_min_clipped: LAMBDA_MIN_CLIPPED,
  variance_type: VARIANCE_TYPE,
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
};

/** `DPMSolverMultistepScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface DPMSolverMultistepSchedulerOptions extends SolverScheduleOptions {
  /** 1, 2 (default; guided sampling) or 3 (unconditional): how many past outputs an update uses. */
  solverOrder?: 1 | 2 | 3;
  /** Dynamic thresholding of x̂_0 (false; pixel-space models only). */
  thresholding?: boolean;
  /**
   * `dpmsolver++` (default; integrates x̂_0), `dpmsolver` (integrates ε̂; needs
   * `finalSigmasType: 'sigma_min'`), `sde-dpmsolver++` (draws noise every step) or
   * `sde-dpmsolver` (orders 1–2, needs `sigma_min`).
   */
  algorithmType?: 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++' | 'sde-dpmsolver';
  /** Second-order rule: `midpoint` (default) or `heun`. */
  solverType?: 'midpoint' | 'heun';
  /** Lower the order of the last two steps when there are fewer than 15 (true). */
  lowerOrderFinal?: boolean;
  /** Make the last step first order whatever the step count (false). */
  eulerAtFinal?: boolean;
  /** Space the σs as Karras et al. (2022), ρ = 7; timesteps are their rounded inverse (false). */
  useKarrasSigmas?: boolean;
  /** Not implemented (false only). */
  useLuLambdas?: false;
  /** Not implemented (false only). */
  useExponentialSigmas?: false;
  /** Not implemented (false only). */
  useBetaSigmas?: false;
  /** Not implemented (false only). */
  useFlowSigmas?: false;
  /** Shift of flow-matching σs; unused, as `useFlowSigmas` is not implemented (1). */
  flowShift?: number;
  /**
   * The σ after the last step: `zero` (default; the last step is then first order) or
   * `sigma_min` = σ(t = 0). With Karras σs, `sigma_min` repeats the last σ, and a heun
   * or third-order last step is refused (diffusers gives NaN).
   */
  finalSigmasType?: 'zero' | 'sigma_min';
  /** Drop the training timesteps whose λ_t = log(α_t/σ_t) is below this (−∞; e.g. −5.1 for the cosine schedule). */
  lambdaMinClipped?: number;
  /** `learned` / `learned_range`: the model outputs 2C channels (last axis), of which the first C are ε̂ (null). */
  varianceType?: 'learned' | 'learned_range' | null;
  /** `linspace` (default), `leading` or `trailing`, over N + 1 points with the last dropped. */
  timestepSpacing?: 'linspace' | 'leading' | 'trailing';
  /** Added to `leading` timesteps (0). */
  stepsOffset?: number;
  /** Rescale the betas to zero terminal SNR (ᾱ_T is then 2⁻²⁴, as diffusers sets it) (false). */
  rescaleBetasZeroSnr?: boolean;
  /** Not implemented (false only). */
  useDynamicShifting?: false;
  /** Only `exponential`. */
  timeShiftType?: 'exponential';
}

/**
 * DPM-Solver and DPM-Solver++ multistep (Lu et al. 2022, 2023), diffusers'
 * `DPMSolverMultistepScheduler`. In λ = log(α_t/σ_t) (α_t = 1/√(σ²+1), σ_t = σα_t),
 * with h = λ_t − λ_s and D the converted outputs x̂_0 (DPM-Solver++) of this and past
 * steps, the second-order (2M, midpoint) update is
 *
 * x_t = (σ_t/σ_s) x_s − α_t (e^{−h} − 1) (D0 + ½ D1),  D1 = (D0 − D_prev)/r0, r0 = h_prev/h;
 *
 * order 3 adds a second difference; `dpmsolver` integrates ε̂ instead; the SDE variants
 * add σ_t√(1 − e^{−2h}) z. Step i runs order min(solverOrder, i + 1), lowered at the
 * last step (always with `finalSigmasType: 'zero'`) and, with `lowerOrderFinal` and
 * fewer than 15 steps, the last two. `step` returns the converted output and the order.
 *
 * @example
 * ```ts
 * const scheduler = new DPMSolverMultistepScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 });
 * scheduler.setTimesteps(20);
 * let x = tf.randomNormal([1, 64, 64, 4]); // initNoiseSigma is 1
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const { prevSample, convertedModelOutput } = scheduler.step(eps, t, x);
 *   tf.dispose([x, eps, convertedModelOutput]);
 *   x = prevSample;
 * }
 * ```
 */
export class DPMSolverMultistepScheduler extends SigmaSolverBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = DPM_MULTISTEP_SCHEMA;
  /** The training timesteps λ clipping keeps, T unless `lambdaMinClipped` is set. */
  private readonly lastTimestep: number;

  /** @param options - diffusers' config, camelCased; see {@link DPMSolverMultistepSchedulerOptions}. */
  constructor(options: DPMSolverMultistepSchedulerOptions = {}) {
    super('DPMSolverMultistepScheduler', DPM_MULTISTEP_SCHEMA, options);
    this.lastTimestep = clippedLastTimestep(this.alphasCumprod, this.cfg<number>('lambda_min_clipped'));
    this.checkLambdaClip(this.lastTimestep);
  }

  protected override checkConfig(): void {
    const algorithm = this.cfg<DPMSolverAlgorithm>('algorithm_type');
    if ((algorithm === 'dpmsolver' || algorithm === 'sde-dpmsolver') && this.cfg<string>('final_sigmas_type') === 'zero') {
      throw new DifflibError('INVALID_ARGUMENT', this.className, 'options.finalSigmasType', `must be "sigma_min" with algorithmType ${JSON.stringify(algorithm)} (ε̂ at σ = 0 is undefined), got "zero"`);
    }
    if (algorithm === 'sde-dpmsolver' && this.cfg<number>('solver_order') === 3) {
      throw new DifflibError('INVALID_ARGUMENT', this.className, 'options.solverOrder', `must be 1 or 2 with algorithmType "sde-dpmsolver" (diffusers has no third-order update for it), got ${describeValue(3)}`);
    }
  }

  /**
   * Refuses N where the last step's update would divide by h = 0: with Karras σs (or a
   * last timestep of 0) the last σ equals the final σ_min, and diffusers' heun and
   * third-order updates then return NaN. A first-order or midpoint second-order last
   * step is fine (it returns its sample).
   */
  protected override checkInferenceSteps(fn: string, n: number): void {
    const { timesteps, sigmas } = this.schedule(n);
    const steps = timesteps.length;
    if (steps < 2 || sigmas[steps - 1] !== sigmas[steps]) return;
    const lowered = this.cfg<boolean>('euler_at_final') || (this.cfg<boolean>('lower_order_final') && steps < 15);
    const lastOrder = lowered ? 1 : Math.min(this.cfg<number>('solver_order'), steps);
    if (lastOrder === 3 || (lastOrder === 2 && this.cfg<string>('solver_type') === 'heun')) {
      throw new DifflibError(
        'UNSATISFIABLE',
        fn,
        'numInferenceSteps',
        `would make the last step a ${lastOrder === 3 ? 'third-order' : 'heun'} update over h = 0 (its σ equals the final σ_min, as with useKarrasSigmas), which is NaN in diffusers; use lowerOrderFinal with fewer than 15 steps, eulerAtFinal, or finalSigmasType "zero", got ${n}`,
      );
    }
  }

  protected schedule(n: number): { timesteps: number[]; sigmas: Float32Array } {
    const T = this.cfg<number>('num_train_timesteps');
    let timesteps = multistepTimesteps(this.cfg<TimestepSpacing>('timestep_spacing'), T, this.lastTimestep, n, this.cfg<number>('steps_offset'));
    let sigmas: ArrayLike<number>;
    if (this.cfg<boolean>('use_karras_sigmas')) {
      // diffusers rounds Karras timesteps except for the cosine schedule, whose int64 cast truncates them.
      const integer = this.cfg<string>('beta_schedule') === 'squaredcos_cap_v2' ? 'trunc' : 'round';
      ({ timesteps, sigmas } = karrasSchedule(this.trainSigmas, this.logTrainSigmas, n, integer));
    } else sigmas = sigmasAtTimesteps(this.trainSigmas, timesteps);
    const last = this.cfg<string>('final_sigmas_type') === 'sigma_min' ? this.trainSigmas[0]! : 0;
    return { timesteps, sigmas: Float32Array.from([...Array.from(sigmas), last]) };
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SolverStepOutput {
    const fn = 'DPMSolverMultistepScheduler.step';
    const predictionType = this.cfg<PredictionType>('prediction_type');
    const learnedVariance = this.cfg<string | null>('variance_type') !== null && predictionType === 'epsilon';
    const opts = this.checkStep(fn, modelOutput, sample, options, [], learnedVariance);
    const i = this.countedIndex(fn, t);
    const n = this.timestepValues.length;
    const solverOrder = this.cfg<number>('solver_order');
    const lowerOrderFinal = this.cfg<boolean>('lower_order_final') && n < 15;
    const lastFirstOrder = i === n - 1 && (this.cfg<boolean>('euler_at_final') || lowerOrderFinal || this.cfg<string>('final_sigmas_type') === 'zero');
    const secondLastLowered = i === n - 2 && lowerOrderFinal;
    const order = solverOrder === 1 || this.lowerOrderNums < 1 || lastFirstOrder ? 1 : solverOrder === 2 || this.lowerOrderNums < 2 || secondLastLowered ? 2 : 3;
    const algorithm = this.cfg<DPMSolverAlgorithm>('algorithm_type');
    const convert: ConvertOptions = {
      target: algorithm.endsWith('++') ? 'data' : 'noise',
      predictionType,
      learnedVariance,
      threshold: this.cfg<boolean>('thresholding') ? { ratio: this.cfg<number>('dynamic_thresholding_ratio'), maxValue: this.cfg<number>('sample_max_value') } : null,
    };

    const result = tf.tidy(() => {
      const s0 = this.level(i);
      const converted = convertModelOutput(modelOutput, sample, s0, convert);
      this.pushModelOutput(converted);
      const noise = algorithm.startsWith('sde') ? this.noise(sample.shape, opts) : undefined;
      const target = this.level(i + 1);
      let prev: tf.Tensor;
      if (order === 1) prev = firstOrderUpdate(algorithm, sample, converted, target, s0, noise);
      else {
        const s1 = this.level(i - 1);
        const h = f32(target.lambda - s0.lambda);
        const h0 = f32(s0.lambda - s1.lambda);
        if (order === 2) prev = secondOrderUpdate(algorithm, this.cfg<DPMSolverType>('solver_type'), sample, target, s0, h, h0, converted, converted, this.newest(2), noise);
        else prev = thirdOrderUpdate(algorithm, sample, target, s0, h, h0, f32(s1.lambda - this.level(i - 2).lambda), [converted, this.newest(2), this.newest(3)], noise);
      }
      // The converted output may be the caller's modelOutput (ε with `dpmsolver`): return a copy the caller owns.
      return { prevSample: prev, convertedModelOutput: converted === modelOutput ? tf.clone(converted) : converted };
    });
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, solverOrder);
    this.stepIndex = i + 1;
    return { ...result, order };
  }
}

/**
 * diffusers' `multistep_dpm_solver_third_order_update`: with r0 = h0/h, r1 = h1/h,
 * D1_0 = (m0 − m1)/r0, D1_1 = (m1 − m2)/r1, D1 = D1_0 + r0/(r0 + r1)·(D1_0 − D1_1),
 * D2 = (D1_0 − D1_1)/(r0 + r1):
 * x_t = (σ_t/σ_s0) x − α_t(e^{−h} − 1) m0 + α_t((e^{−h} − 1)/h + 1) D1 − α_t((e^{−h} − 1 + h)/h² − ½) D2
 * (DPM-Solver++; `dpmsolver` and `sde-dpmsolver++` alike in their own coefficients).
 */
function thirdOrderUpdate(
  algorithm: DPMSolverAlgorithm,
  sample: tf.Tensor,
  t: NoiseLevel,
  s0: NoiseLevel,
  h: number,
  h0: number,
  h1: number,
  [m0, m1, m2]: [tf.Tensor, tf.Tensor, tf.Tensor],
  noise?: tf.Tensor,
): tf.Tensor {
  const r0 = f32(h0 / h);
  const r1 = f32(h1 / h);
  const d10 = tf.mul(tf.sub(m0, m1), f32(1 / r0));
  const d11 = tf.mul(tf.sub(m1, m2), f32(1 / r1));
  const spread = tf.sub(d10, d11);
  const rSum = f32(r0 + r1);
  const d1 = tf.add(d10, tf.mul(spread, f32(r0 / rSum)));
  const d2 = tf.mul(spread, f32(1 / rSum));
  const hh = f32(h * h);
  if (algorithm === 'dpmsolver++') {
    const em1 = f32(expF32(-h) - 1);
    const x = tf.sub(tf.mul(sample, f32(t.sigma / s0.sigma)), tf.mul(m0, f32(t.alpha * em1)));
    return tf.sub(tf.add(x, tf.mul(d1, f32(t.alpha * f32(f32(em1 / h) + 1)))), tf.mul(d2, f32(t.alpha * f32(f32(f32(em1 + h) / hh) - 0.5))));
  }
  if (algorithm === 'dpmsolver') {
    const em1 = f32(expF32(h) - 1);
    const x = tf.sub(tf.mul(sample, f32(t.alpha / s0.alpha)), tf.mul(m0, f32(t.sigma * em1)));
    return tf.sub(tf.sub(x, tf.mul(d1, f32(t.sigma * f32(f32(em1 / h) - 1)))), tf.mul(d2, f32(t.sigma * f32(f32(f32(em1 - h) / hh) - 0.5))));
  }
  // sde-dpmsolver++ (sde-dpmsolver is refused at order 3 by the config check).
  const one = f32(1 - expF32(f32(-2 * h)));
  const twoH = f32(2 * h);
  let x = tf.add(tf.mul(sample, f32(f32(t.sigma / s0.sigma) * expF32(-h))), tf.mul(m0, f32(t.alpha * one)));
  x = tf.add(x, tf.mul(d1, f32(t.alpha * f32(f32(one / f32(-2 * h)) + 1))));
  x = tf.add(x, tf.mul(d2, f32(t.alpha * f32(f32(f32(one - twoH) / f32(twoH * twoH)) - 0.5))));
  return tf.add(x, tf.mul(noise!, f32(t.sigma * f32(Math.sqrt(one)))));
}
