import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { BETA_KEYS, PREDICTION_TYPE, RESCALE_ZERO_SNR, SPACING_KEYS, THRESHOLD_KEYS } from './common-keys';
import { boolean, oneOf, type ConfigSchema } from './config';
import { FINAL_SIGMAS_TYPE, SOLVER_ORDER, SigmaSolverBase, UNIMPLEMENTED_SIGMA_KEYS, USE_KARRAS_SIGMAS, notImplemented } from './dpm-solver-base';
import { convertModelOutput, karrasSchedule, multistepTimesteps, sigmasAtTimesteps, type PredictionType, type SolverStepOutput, type SolverScheduleOptions } from './dpm-solver-common';
import { f32 } from './float32';
import type { SchedulerStepOptions } from './scheduler';
import type { TimestepSpacing } from './spacing';
import { uniPCUpdate, type UniPCSolverType, type UniPCUpdate } from './unipc-coefficients';

/** DPM-Solver's `solver_type` names, which diffusers' UniPC takes as `bh2`. */
const LEGACY_SOLVER_TYPES = ['midpoint', 'heun', 'logrho'];

/** diffusers' `UniPCMultistepScheduler` config keys and defaults. */
const UNIPC_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  solver_order: SOLVER_ORDER,
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  predict_x0: { default: true, check: boolean },
  solver_type: { default: 'bh2', check: oneOf('bh1', 'bh2', ...LEGACY_SOLVER_TYPES) },
  lower_order_final: { default: true, check: boolean },
  disable_corrector: {
    default: [],
    check: (v) => (Array.isArray(v) && v.every((i) => Number.isSafeInteger(i) && (i as number) >= 0) ? null : `must be an array of step indices (integers ≥ 0), got ${describeValue(v)}`),
  },
  solver_p: notImplemented(null),
  use_karras_sigmas: USE_KARRAS_SIGMAS,
  ...UNIMPLEMENTED_SIGMA_KEYS,
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
  final_sigmas_type: FINAL_SIGMAS_TYPE,
  rescale_betas_zero_snr: RESCALE_ZERO_SNR,
  sigma_min: notImplemented(null),
  sigma_max: notImplemented(null),
  shift_terminal: notImplemented(null),
};

/** `UniPCMultistepScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface UniPCMultistepSchedulerOptions extends SolverScheduleOptions {
  /** p, the order of the predictor UniP: 1, 2 (default; guided sampling) or 3 (unconditional). */
  solverOrder?: 1 | 2 | 3;
  /** Dynamic thresholding of x̂_0 (false); only with `predictX0`, as in diffusers. */
  thresholding?: boolean;
  /** Integrate the data prediction x̂_0 (true, default) or the noise prediction ε̂. */
  predictX0?: boolean;
  /** B(h): `bh1` (h; advised below 10 steps, unconditional) or `bh2` (e^h − 1, default); DPM-Solver's `midpoint`, `heun`, `logrho` become `bh2`. */
  solverType?: 'bh1' | 'bh2' | 'midpoint' | 'heun' | 'logrho';
  /** Lower the order over the last steps (order ≤ steps left) (true). */
  lowerOrderFinal?: boolean;
  /** Step indices i − 1 whose correction at step i is skipped ([]; e.g. [0, 1] with strong guidance). */
  disableCorrector?: number[];
  /** Another scheduler as the predictor: not implemented by difflib (only null). */
  solverP?: null;
  /** Karras et al. (2022) σs (ρ = 7) between the training σ_min and σ_max, timesteps rounded (false). */
  useKarrasSigmas?: boolean;
  /** Not implemented by difflib (only false). */
  useExponentialSigmas?: false;
  /** Not implemented by difflib (only false). */
  useBetaSigmas?: false;
  /** Not implemented by difflib (only false). */
  useFlowSigmas?: false;
  /** Flow-matching shift, inert without `useFlowSigmas` (1). */
  flowShift?: number;
  /** `linspace` (default), `leading` or `trailing`, of N + 1 points with the last dropped. */
  timestepSpacing?: 'linspace' | 'leading' | 'trailing';
  /** Added to `leading` timesteps (0). */
  stepsOffset?: number;
  /** The σ after the last step: `zero` (default) or `sigma_min` (σ at t = 0, or the last Karras σ). See the class doc. */
  finalSigmasType?: 'zero' | 'sigma_min';
  /** Rescale the betas to zero terminal SNR (false); ᾱ_{T−1} is then 2⁻²⁴. */
  rescaleBetasZeroSnr?: boolean;
  /** Not implemented by difflib (only false). */
  useDynamicShifting?: false;
  /** Inert without `useDynamicShifting` (only `exponential`). */
  timeShiftType?: 'exponential';
  /** Not implemented by difflib (only null). */
  sigmaMin?: null;
  /** Not implemented by difflib (only null). */
  sigmaMax?: null;
  /** Not implemented by difflib (only null). */
  shiftTerminal?: null;
}

/** What {@link UniPCMultistepScheduler.step} returns; the caller owns every tensor (dispose them). */
export interface UniPCStepOutput extends SolverStepOutput {
  /** The sample after the UniC correction (diffusers' `last_sample`): a copy of `sample` when none ran. */
  correctedSample: tf.Tensor;
  /** The order of the correction that ran at this step (0: none). */
  correctorOrder: number;
}

/**
 * UniPC (Zhao et al. 2023), diffusers' `UniPCMultistepScheduler`: a multistep solver in
 * λ = log(α/σ) with a predictor (UniP) and a corrector (UniC) of order 1 to 3, the model
 * evaluated once per step. With x̂_0 (`predictX0`), h = λ_t − λ_s0 and the converted
 * outputs m_k of the last steps,
 *
 * x_t = (σ_t/σ_s0) x − α_t (e^{−h} − 1) m0 − α_t B(−h) Σ_k ρ_k (m_k − m0)/r_k,
 *
 * r_k = (λ_sk − λ_s0)/h, B(h) = h (`bh1`) or e^h − 1 (`bh2`), and ρ from a Vandermonde
 * system in the r_k (the predictor's ρ = ½ at order 2, the corrector's at order 1; above,
 * solved in float32 as torch.linalg.solve does, to the bit). Step i first corrects the sample it is given with
 * the new output (UniC, the previous step's order, unless i − 1 is in `disableCorrector`)
 * and then predicts x at step i + 1 with order min(p, steps done + 1, steps left with
 * `lowerOrderFinal`). Timesteps are integers; σs come from the training ᾱ; the model
 * input is the sample itself.
 *
 * Where diffusers gives no number, neither does difflib: with the default
 * `finalSigmasType: 'zero'` the last step goes to σ = 0, λ = +∞, and diffusers' float32
 * arithmetic returns NaN everywhere for `bh1` (B = −∞ times a zero residual) and for
 * `predictX0: false` (0·∞), and ±∞ for a last step of order 2 (`lowerOrderFinal: false`);
 * difflib returns the same non-finite values (and is finite wherever diffusers is). Use
 * `finalSigmasType: 'sigma_min'` for those configurations. An order-3 last step to σ = 0
 * (`solverOrder: 3, lowerOrderFinal: false`, 3 steps or more) makes a singular system,
 * which torch refuses mid-loop: difflib refuses it at `setTimesteps`.
 *
 * @example
 * ```ts
 * const scheduler = new UniPCMultistepScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 });
 * scheduler.setTimesteps(20);
 * let x = tf.randomNormal([1, 64, 64, 4]);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const out = scheduler.step(eps, t, x);
 *   tf.dispose([x, eps, out.convertedModelOutput, out.correctedSample]);
 *   x = out.prevSample;
 * }
 * ```
 */
export class UniPCMultistepScheduler extends SigmaSolverBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = UNIPC_SCHEMA;
  /** The sample of the last predictor (diffusers' `last_sample`), owned here. */
  private lastSample: tf.Tensor | null = null;
  /** The order of the last predictor, which the next correction takes. */
  private lastOrder = 0;
  private readonly disabledCorrections: ReadonlySet<number>;

  /** @param options - diffusers' config, camelCased; see {@link UniPCMultistepSchedulerOptions}. */
  constructor(options: UniPCMultistepSchedulerOptions = {}) {
    super('UniPCMultistepScheduler', UNIPC_SCHEMA, withBh2(options));
    this.disabledCorrections = new Set(this.cfg<number[]>('disable_corrector'));
  }

  protected schedule(n: number): { timesteps: number[]; sigmas: Float32Array } {
    const sigmaMinLast = this.cfg<string>('final_sigmas_type') === 'sigma_min';
    if (this.cfg<boolean>('use_karras_sigmas')) {
      const { timesteps, sigmas } = karrasSchedule(this.trainSigmas, this.logTrainSigmas, n, 'round');
      return { timesteps, sigmas: Float32Array.from([...sigmas, sigmaMinLast ? sigmas[n - 1]! : 0]) };
    }
    const T = this.cfg<number>('num_train_timesteps');
    const timesteps = multistepTimesteps(this.cfg<TimestepSpacing>('timestep_spacing'), T, T, n, this.cfg<number>('steps_offset'));
    const sigmas = sigmasAtTimesteps(this.trainSigmas, timesteps);
    return { timesteps, sigmas: Float32Array.from([...sigmas, sigmaMinLast ? this.trainSigmas[0]! : 0]) };
  }

  /** Refuses the step counts whose last step is an order-3 predictor to σ = 0 (a singular system). */
  protected override checkInferenceSteps(fn: string, n: number): void {
    if (n >= 3 && this.cfg<number>('solver_order') === 3 && !this.cfg<boolean>('lower_order_final') && this.cfg<string>('final_sigmas_type') === 'zero') {
      throw new DifflibError(
        'UNSATISFIABLE',
        fn,
        'numInferenceSteps',
        `must be below 3 with solverOrder 3, lowerOrderFinal false and finalSigmasType 'zero': the last step would be an order-3 predictor to σ = 0, ` +
          `whose system is singular (diffusers raises at that step); use lowerOrderFinal: true or finalSigmasType: 'sigma_min', got ${n}`,
      );
    }
  }

  /**
   * One UniPC step: corrects `sample` with this step's model output (UniC), then predicts
   * the sample at the next timestep (UniP). Takes no step options but `noise`/`seed`
   * (unused: UniPC draws no noise).
   * @param modelOutput - the model's output at `t`, shaped like `sample`.
   * @param t - `timesteps[i]`, the steps in order.
   * @param sample - x at `t` (the previous step's `prevSample`).
   * @returns the next sample, the converted output (x̂_0 or ε̂), the corrected sample and both orders.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): UniPCStepOutput {
    const fn = 'UniPCMultistepScheduler.step';
    this.checkStep(fn, modelOutput, sample, options, []);
    const i = this.countedIndex(fn, t);
    const solverOrder = this.cfg<number>('solver_order');
    const predictX0 = this.cfg<boolean>('predict_x0');
    const solverType = this.cfg<UniPCSolverType>('solver_type');
    const levels = (from: number, count: number) => Array.from({ length: count }, (_, k) => this.level(from - k));
    const correctorOrder = i > 0 && !this.disabledCorrections.has(i - 1) && this.lastSample !== null ? this.lastOrder : 0;
    const steps = this.timestepValues.length;
    const order = Math.min(this.cfg<boolean>('lower_order_final') ? Math.min(solverOrder, steps - i) : solverOrder, this.lowerOrderNums + 1);
    const corrector = correctorOrder > 0 ? uniPCUpdate('corrector', this.level(i), this.level(i - 1), levels(i - 2, correctorOrder - 1), predictX0, solverType) : null;
    const predictor = uniPCUpdate('predictor', this.level(i + 1), this.level(i), levels(i - 1, order - 1), predictX0, solverType);
    for (const [kind, update, p] of [['corrector', corrector, correctorOrder], ['predictor', predictor, order]] as const) {
      if (update !== null && update.rhos === null) {
        throw new DifflibError('UNSATISFIABLE', fn, 't', `(step ${i}) needs the ${kind} of order ${p}, whose system is singular (two of its noise levels coincide; torch.linalg.solve refuses it too), got ${t}`);
      }
    }

    const out = tf.tidy(() => {
      const converted = convertModelOutput(modelOutput, sample, this.level(i), {
        target: predictX0 ? 'data' : 'noise',
        predictionType: this.cfg<PredictionType>('prediction_type'),
        learnedVariance: false,
        threshold: predictX0 && this.cfg<boolean>('thresholding') ? { ratio: this.cfg<number>('dynamic_thresholding_ratio'), maxValue: this.cfg<number>('sample_max_value') } : null,
      });
      // UniC: m0 is the previous output (the newest in the history before this one joins it).
      const corrected = corrector ? applyUpdate(corrector, this.lastSample!, this.history(1, correctorOrder), converted) : sample;
      this.pushModelOutput(converted);
      this.release(this.lastSample);
      this.lastSample = this.hold(corrected);
      const prevSample = applyUpdate(predictor, corrected, this.history(1, order), null);
      // Either may be the caller's own tensor (an ε output with predictX0 false; no correction): return copies the caller owns.
      return {
        prevSample,
        convertedModelOutput: converted === modelOutput ? tf.clone(converted) : converted,
        correctedSample: corrected === sample ? tf.clone(corrected) : corrected,
      };
    });
    this.lastOrder = order;
    if (this.lowerOrderNums < solverOrder) this.lowerOrderNums++;
    this.stepIndex = i + 1;
    return { ...out, order, correctorOrder };
  }

  /** The newest `count` converted outputs from the k-th newest on: [m0, m1, …]. */
  private history(k: number, count: number): tf.Tensor[] {
    return Array.from({ length: count }, (_, j) => this.newest(k + j));
  }

  protected override onHistoryReleased(): void {
    super.onHistoryReleased();
    this.lastSample = null;
    this.lastOrder = 0;
  }
}

/**
 * x_t = a·x − c·m0 − e·(Σ_k ρ_k D_k [+ ρ_last·(m_t − m0)]), D_k = (m_k − m0)/r_k, in
 * diffusers' operation order; `mt` is the corrector's new output (null for the
 * predictor, whose zero residual at order 1 still multiplies e, giving NaN for e = ±∞).
 */
function applyUpdate(u: UniPCUpdate, x: tf.Tensor, outputs: tf.Tensor[], mt: tf.Tensor | null): tf.Tensor {
  const [m0, ...earlier] = outputs as [tf.Tensor, ...tf.Tensor[]];
  const rhos = u.rhos!;
  const base = tf.sub(tf.mul(x, u.sampleCoef), tf.mul(m0, u.m0Coef));
  let residual: tf.Tensor | null = null;
  for (let k = 0; k < earlier.length; k++) {
    const term = tf.mul(tf.div(tf.sub(earlier[k]!, m0), u.rks[k]!), rhos[k]!);
    residual = residual ? tf.add(residual, term) : term;
  }
  if (mt !== null) {
    const own = tf.mul(tf.sub(mt, m0), rhos[rhos.length - 1]!);
    residual = residual ? tf.add(residual, own) : own;
  }
  return residual ? tf.sub(base, tf.mul(residual, u.residualCoef)) : tf.sub(base, f32(u.residualCoef * 0));
}

/** The options with DPM-Solver's solver types replaced by `bh2`, as diffusers' constructor does. */
function withBh2(options: UniPCMultistepSchedulerOptions): UniPCMultistepSchedulerOptions {
  const type = options !== null && typeof options === 'object' ? options.solverType : undefined;
  return type !== undefined && LEGACY_SOLVER_TYPES.includes(type) ? { ...options, solverType: 'bh2' } : options;
}
