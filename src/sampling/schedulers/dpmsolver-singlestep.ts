import * as tf from '@tensorflow/tfjs-core';
import { DifflibError } from '../../errors';
import { BETA_KEYS, PREDICTION_TYPE, THRESHOLD_KEYS } from './common-keys';
import { boolean, oneOf, type ConfigSchema } from './config';
import { FINAL_SIGMAS_TYPE, LAMBDA_MIN_CLIPPED, SigmaSolverBase, SOLVER_ORDER, UNIMPLEMENTED_SIGMA_KEYS, USE_KARRAS_SIGMAS, VARIANCE_TYPE } from './dpm-solver-base';
import { clippedLastTimestep, convertModelOutput, expF32, firstOrderUpdate, karrasSchedule, multistepTimesteps, secondOrderUpdate, sigmasAtTimesteps, type ConvertOptions, type DPMSolverAlgorithm, type DPMSolverType, type NoiseLevel, type PredictionType, type SolverStepOutput, type SolverScheduleOptions } from './dpm-solver-common';
import { f32 } from './float32';
import type { SchedulerStepOptions } from './scheduler';

/** The algorithms diffusers' singlestep solver has. */
type SinglestepAlgorithm = Exclude<DPMSolverAlgorithm, 'sde-dpmsolver'>;

/** diffusers' `DPMSolverSinglestepScheduler` config keys and defaults. */
const DPM_SINGLESTEP_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  solver_order: SOLVER_ORDER,
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  algorithm_type: { default: 'dpmsolver++', check: oneOf('dpmsolver++', 'dpmsolver', 'sde-dpmsolver++') },
  solver_type: { default: 'midpoint', check: oneOf('midpoint', 'heun') },
  lower_order_final: { default: false, check: boolean },
  use_karras_sigmas: USE_KARRAS_SIGMAS,
  ...UNIMPLEMENTED_SIGMA_KEYS,
  final_sigmas_type: FINAL_SIGMAS_TYPE,
  lambda_min_clipped: LAMBDA_MIN_CLIPPED,
  variance_type: VARIANCE_TYPE,
};

/** `DPMSolverSinglestepScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface DPMSolverSinglestepSchedulerOptions extends SolverScheduleOptions {
  /** 1, 2 (default) or 3: the model evaluations per solver step. */
  solverOrder?: 1 | 2 | 3;
  /** Dynamic thresholding of x̂_0 (false; pixel-space models only). */
  thresholding?: boolean;
  /** `dpmsolver++` (default; integrates x̂_0), `dpmsolver` (ε̂; needs `finalSigmasType: 'sigma_min'`) or `sde-dpmsolver++` (draws noise every step). */
  algorithmType?: 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++';
  /** Rule of the higher orders: `midpoint` (default) or `heun`. */
  solverType?: 'midpoint' | 'heun';
  /**
   * End on a shorter group (false). Forced on where N is not a multiple of `solverOrder`
   * or `finalSigmasType` is `zero` (see {@link DPMSolverSinglestepScheduler.orderList}).
   */
  lowerOrderFinal?: boolean;
  /** Space the σs as Karras et al. (2022), ρ = 7; timesteps are their rounded inverse (false). */
  useKarrasSigmas?: boolean;
  /** Not implemented (false only). */
  useExponentialSigmas?: false;
  /** Not implemented (false only). */
  useBetaSigmas?: false;
  /** Not implemented (false only). */
  useFlowSigmas?: false;
  /** Shift of flow-matching σs; unused, as `useFlowSigmas` is not implemented (1). */
  flowShift?: number;
  /** The σ after the last step: `zero` (default; the last step is then first order) or `sigma_min` = σ(t = 0). */
  finalSigmasType?: 'zero' | 'sigma_min';
  /** Drop the training timesteps whose λ_t = log(α_t/σ_t) is below this (−∞). */
  lambdaMinClipped?: number;
  /** `learned` / `learned_range`: the model outputs 2C channels (last axis), of which the first C are ε̂ (null). */
  varianceType?: 'learned' | 'learned_range' | null;
  /** Not implemented (false only). */
  useDynamicShifting?: false;
  /** Only `exponential`. */
  timeShiftType?: 'exponential';
}

/**
 * Singlestep DPM-Solver and DPM-Solver++ (Lu et al. 2022, 2023), diffusers'
 * `DPMSolverSinglestepScheduler`: the steps go in groups of 1, 2, 3, … model
 * evaluations (`orderList`); a group starts with a first-order step from its saved
 * sample, and its k-th step jumps from that saved sample (at λ_s) to the next σ with
 * order k, using the k converted outputs of the group: for k = 2,
 *
 * x_t = (σ_t/σ_s) x_s − α_t (e^{−h} − 1) (m_s + ½ (m_u − m_s)/r),  h = λ_t − λ_s, r = (λ_u − λ_s)/h.
 *
 * Timesteps are always linspace over N + 1 points (the last dropped), as in diffusers.
 * `step` returns the converted output and the order it ran.
 *
 * diffusers rewrites `lower_order_final` to true in its config when N is not a multiple
 * of `solver_order` or `final_sigmas_type` is `zero`, and keeps it so for later calls;
 * here the config stays as given (`toConfig()` returns it unchanged) and each
 * `setTimesteps(N)` applies that rule afresh, so the orders depend on the config and N
 * only (see {@link DPMSolverSinglestepScheduler.orderList}).
 *
 * @example
 * ```ts
 * const scheduler = new DPMSolverSinglestepScheduler({ solverOrder: 3 });
 * scheduler.setTimesteps(12); // orderList 1,2,3, 1,2,3, 1,2,3, 1,2,1
 * let x = tf.randomNormal([1, 32, 32, 3]);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const { prevSample, convertedModelOutput } = scheduler.step(eps, t, x);
 *   tf.dispose([x, eps, convertedModelOutput]);
 *   x = prevSample;
 * }
 * ```
 */
export class DPMSolverSinglestepScheduler extends SigmaSolverBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = DPM_SINGLESTEP_SCHEMA;
  /** The training timesteps λ clipping keeps, T unless `lambdaMinClipped` is set. */
  private readonly lastTimestep: number;
  private orders: number[] = [];
  /** The sample at the start of the current group, owned here. */
  private groupSample: tf.Tensor | null = null;

  /** @param options - diffusers' config, camelCased; see {@link DPMSolverSinglestepSchedulerOptions}. */
  constructor(options: DPMSolverSinglestepSchedulerOptions = {}) {
    super('DPMSolverSinglestepScheduler', DPM_SINGLESTEP_SCHEMA, options);
    this.lastTimestep = clippedLastTimestep(this.alphasCumprod, this.cfg<number>('lambda_min_clipped'));
    this.checkLambdaClip(this.lastTimestep);
  }

  protected override checkConfig(): void {
    if (this.cfg<string>('algorithm_type') === 'dpmsolver' && this.cfg<string>('final_sigmas_type') === 'zero') {
      throw new DifflibError('INVALID_ARGUMENT', this.className, 'options.finalSigmasType', 'must be "sigma_min" with algorithmType "dpmsolver" (ε̂ at σ = 0 is undefined), got "zero"');
    }
  }

  /**
   * The order of each step's update (diffusers' `order_list`) for the last
   * `setTimesteps(N)`: groups 1, 2, …, solverOrder; with lower-order final (asked for,
   * or forced because N is not a multiple of the order or the final σ is 0) the last
   * group is shortened as diffusers does; with a final σ of 0 the last step is first order.
   */
  get orderList(): readonly number[] {
    return this.orders;
  }

  /** Whether lower-order final applies to N steps: as configured, or forced as diffusers forces it. */
  private lowerOrderFinalFor(n: number): boolean {
    return this.cfg<boolean>('lower_order_final') || n % this.cfg<number>('solver_order') !== 0 || this.cfg<string>('final_sigmas_type') === 'zero';
  }

  protected schedule(n: number): { timesteps: number[]; sigmas: Float32Array } {
    const T = this.cfg<number>('num_train_timesteps');
    let timesteps = multistepTimesteps('linspace', T, this.lastTimestep, n, 0);
    let sigmas: ArrayLike<number>;
    if (this.cfg<boolean>('use_karras_sigmas')) ({ timesteps, sigmas } = karrasSchedule(this.trainSigmas, this.logTrainSigmas, n, 'round'));
    else sigmas = sigmasAtTimesteps(this.trainSigmas, timesteps);
    const last = this.cfg<string>('final_sigmas_type') === 'sigma_min' ? this.trainSigmas[0]! : 0;
    this.orders = orderListOf(this.cfg<number>('solver_order'), n, this.lowerOrderFinalFor(n), last === 0);
    return { timesteps, sigmas: Float32Array.from([...Array.from(sigmas), last]) };
  }

  protected override onHistoryReleased(): void {
    super.onHistoryReleased();
    this.groupSample = null;
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SolverStepOutput {
    const fn = 'DPMSolverSinglestepScheduler.step';
    const predictionType = this.cfg<PredictionType>('prediction_type');
    const learnedVariance = this.cfg<string | null>('variance_type') !== null && predictionType === 'epsilon';
    const opts = this.checkStep(fn, modelOutput, sample, options, [], learnedVariance);
    const i = this.countedIndex(fn, t);
    const algorithm = this.cfg<SinglestepAlgorithm>('algorithm_type');
    const convert: ConvertOptions = {
      target: algorithm === 'dpmsolver' ? 'noise' : 'data',
      predictionType,
      learnedVariance,
      threshold: this.cfg<boolean>('thresholding') ? { ratio: this.cfg<number>('dynamic_thresholding_ratio'), maxValue: this.cfg<number>('sample_max_value') } : null,
    };
    // After the push below, the history holds this step's output and those before it;
    // an order needs that many (fewer only when sampling starts mid-schedule).
    let order = this.orders[i]!;
    const filled = this.modelOutputs.filter((m) => m !== null).length + 1;
    while (order > filled) order--;

    const result = tf.tidy(() => {
      const converted = convertModelOutput(modelOutput, sample, this.level(i), convert);
      this.pushModelOutput(converted);
      const noise = algorithm === 'sde-dpmsolver++' ? this.noise(sample.shape, opts) : undefined;
      if (order === 1) {
        this.release(this.groupSample);
        this.groupSample = this.hold(sample);
      }
      const start = this.groupSample!;
      const target = this.level(i + 1);
      let prev: tf.Tensor;
      if (order === 1) prev = firstOrderUpdate(algorithm, start, converted, target, this.level(i), noise);
      else if (order === 2) {
        const s0 = this.level(i);
        const s1 = this.level(i - 1);
        const h = f32(target.lambda - s1.lambda);
        prev = secondOrderUpdate(algorithm, this.cfg<DPMSolverType>('solver_type'), start, target, s1, h, f32(s0.lambda - s1.lambda), this.newest(2), converted, this.newest(2), noise);
      } else prev = this.thirdOrder(algorithm, start, i, [converted, this.newest(2), this.newest(3)], noise);
      return { prevSample: prev, convertedModelOutput: converted === modelOutput ? tf.clone(converted) : converted };
    });
    this.stepIndex = i + 1;
    return { ...result, order };
  }

  /**
   * diffusers' `singlestep_dpm_solver_third_order_update` from the group's saved sample at
   * s2 = σ index i − 2 to i + 1: h = λ_t − λ_s2, r0 = (λ_s0 − λ_s2)/h, r1 = (λ_s1 − λ_s2)/h,
   * D1_0 = (m1 − m2)/r1, D1_1 = (m0 − m2)/r0; `midpoint` uses D1_1 alone,
   * `heun` D1 = (r0 D1_0 − r1 D1_1)/(r0 − r1) and D2 = 2(D1_1 − D1_0)/(r0 − r1).
   */
  private thirdOrder(algorithm: SinglestepAlgorithm, sample: tf.Tensor, i: number, [m0, m1, m2]: tf.Tensor[], noise?: tf.Tensor): tf.Tensor {
    const [t, s0, s1, s2] = [this.level(i + 1), this.level(i), this.level(i - 1), this.level(i - 2)] as [NoiseLevel, NoiseLevel, NoiseLevel, NoiseLevel];
    const h = f32(t.lambda - s2.lambda);
    const r0 = f32(f32(s0.lambda - s2.lambda) / h);
    const r1 = f32(f32(s1.lambda - s2.lambda) / h);
    const d10 = tf.mul(tf.sub(m1!, m2!), f32(1 / r1));
    const d11 = tf.mul(tf.sub(m0!, m2!), f32(1 / r0));
    const heun = this.cfg<DPMSolverType>('solver_type') === 'heun';
    const rDiff = f32(r0 - r1);
    const d1 = heun ? tf.div(tf.sub(tf.mul(d10, r0), tf.mul(d11, r1)), rDiff) : d11;
    const d2 = heun ? tf.div(tf.mul(tf.sub(d11, d10), 2), rDiff) : null;
    if (algorithm === 'dpmsolver++') {
      const em1 = f32(expF32(-h) - 1);
      const x = tf.add(tf.sub(tf.mul(sample, f32(t.sigma / s2.sigma)), tf.mul(m2!, f32(t.alpha * em1))), tf.mul(d1, f32(t.alpha * f32(f32(em1 / h) + 1))));
      return d2 ? tf.sub(x, tf.mul(d2, f32(t.alpha * f32(f32(f32(em1 + h) / f32(h * h)) - 0.5)))) : x;
    }
    if (algorithm === 'dpmsolver') {
      const em1 = f32(expF32(h) - 1);
      const x = tf.sub(tf.sub(tf.mul(sample, f32(t.alpha / s2.alpha)), tf.mul(m2!, f32(t.sigma * em1))), tf.mul(d1, f32(t.sigma * f32(f32(em1 / h) - 1))));
      return d2 ? tf.sub(x, tf.mul(d2, f32(t.sigma * f32(f32(f32(em1 - h) / f32(h * h)) - 0.5)))) : x;
    }
    const one = f32(1 - expF32(f32(-2 * h)));
    const minus2h = f32(-2 * h);
    let x = tf.add(tf.mul(sample, f32(f32(t.sigma / s2.sigma) * expF32(-h))), tf.mul(m2!, f32(t.alpha * one)));
    x = tf.add(x, tf.mul(d1, f32(t.alpha * f32(f32(one / minus2h) + 1))));
    if (d2) x = tf.add(x, tf.mul(d2, f32(t.alpha * f32(f32(f32(one + minus2h) / f32(minus2h * minus2h)) - 0.5))));
    return tf.add(x, tf.mul(noise!, f32(t.sigma * f32(Math.sqrt(one)))));
  }
}

/** diffusers' `get_order_list`: per step, the order of its update. */
function orderListOf(order: number, steps: number, lowerOrderFinal: boolean, finalSigmaZero: boolean): number[] {
  const repeat = (group: number[], times: number) => Array.from({ length: Math.max(0, times) }, () => group).flat();
  const full = Array.from({ length: order }, (_, k) => k + 1);
  let orders: number[];
  if (!lowerOrderFinal || order === 1) orders = repeat(full, Math.floor(steps / order));
  else if (order === 3) {
    const rest = steps % 3;
    orders = rest === 0 ? [...repeat(full, steps / 3 - 1), 1, 2, 1] : [...repeat(full, Math.floor(steps / 3)), ...(rest === 1 ? [1] : [1, 2])];
  } else orders = steps % 2 === 0 ? [...repeat(full, steps / 2 - 1), 1, 1] : [...repeat(full, Math.floor(steps / 2)), 1];
  if (finalSigmaZero) orders[orders.length - 1] = 1;
  return orders;
}
