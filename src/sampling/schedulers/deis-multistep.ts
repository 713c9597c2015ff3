import * as tf from '@tensorflow/tfjs-core';
import { BETA_KEYS, PREDICTION_TYPE, SPACING_KEYS, THRESHOLD_KEYS } from './common-keys';
import { boolean, oneOf, type ConfigSchema } from './config';
import { SigmaSolverBase, SOLVER_ORDER, UNIMPLEMENTED_SIGMA_KEYS, USE_KARRAS_SIGMAS } from './dpm-solver-base';
import { convertModelOutput, epsilonFromData, firstOrderUpdate, karrasSchedule, logF32, multistepTimesteps, sigmasAtTimesteps, type NoiseLevel, type PredictionType, type SolverStepOutput, type SolverScheduleOptions } from './dpm-solver-common';
import { f32 } from './float32';
import type { SchedulerStepOptions } from './scheduler';
import type { TimestepSpacing } from './spacing';

/** diffusers' `DEISMultistepScheduler` config keys and defaults. */
const DEIS_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  solver_order: SOLVER_ORDER,
  prediction_type: PREDICTION_TYPE,
  ...THRESHOLD_KEYS,
  algorithm_type: { default: 'deis', check: oneOf('deis') },
  solver_type: { default: 'logrho', check: oneOf('logrho') },
  lower_order_final: { default: true, check: boolean },
  use_karras_sigmas: USE_KARRAS_SIGMAS,
  ...UNIMPLEMENTED_SIGMA_KEYS,
  timestep_spacing: { ...SPACING_KEYS.timestep_spacing, default: 'linspace' },
  steps_offset: SPACING_KEYS.steps_offset,
};

/** `DEISMultistepScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface DEISMultistepSchedulerOptions extends SolverScheduleOptions {
  /** 1, 2 (default) or 3: how many past outputs an update uses. */
  solverOrder?: 1 | 2 | 3;
  /** Dynamic thresholding of x̂_0 before ε̂ is re-derived (false; pixel-space models only). */
  thresholding?: boolean;
  /** Only `deis`. */
  algorithmType?: 'deis';
  /** Only `logrho` (polynomial extrapolation in log ρ). */
  solverType?: 'logrho';
  /** Lower the order of the last two steps when there are fewer than 15 (true). */
  lowerOrderFinal?: boolean;
  /** Space the σs as Karras et al. (2022), ρ = 7; the last σ is then repeated (false). */
  useKarrasSigmas?: boolean;
  /** Not implemented (false only). */
  useExponentialSigmas?: false;
  /** Not implemented (false only). */
  useBetaSigmas?: false;
  /** Not implemented (false only). */
  useFlowSigmas?: false;
  /** Shift of flow-matching σs; unused, as `useFlowSigmas` is not implemented (1). */
  flowShift?: number;
  /** `linspace` (default), `leading` or `trailing`, over N + 1 points with the last dropped. */
  timestepSpacing?: 'linspace' | 'leading' | 'trailing';
  /** Added to `leading` timesteps (0). */
  stepsOffset?: number;
  /** Not implemented (false only). */
  useDynamicShifting?: false;
  /** Only `exponential`. */
  timeShiftType?: 'exponential';
}

/**
 * DEIS, the diffusion exponential integrator sampler (Zhang & Chen 2023), diffusers'
 * `DEISMultistepScheduler` (log-ρ, orders 1–3). With ρ = σ_t/α_t and the converted
 * outputs ε̂ of this and past steps, the update is exact for ε̂ interpolated by a
 * polynomial in log ρ through the past points:
 *
 * x_t = α_t (x_s/α_s + Σ_k c_k ε̂_k),  c_k = ∫_{ρ_s}^{ρ_t} ℓ_k(log ρ) dρ
 *
 * (ℓ_k the Lagrange basis; order 1 is DDIM). The converted output is ε̂ re-derived from
 * x̂_0 (so thresholding applies); the final σ is σ_min = σ(t = 0) (with Karras σs the
 * smallest Karras σ again, a last step with h = 0), never 0. `step` returns the
 * converted output and the order it ran.
 *
 * @example
 * ```ts
 * const scheduler = new DEISMultistepScheduler({ solverOrder: 3 });
 * scheduler.setTimesteps(12);
 * let x = tf.randomNormal([1, 32, 32, 3]);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const { prevSample, convertedModelOutput } = scheduler.step(eps, t, x);
 *   tf.dispose([x, eps, convertedModelOutput]);
 *   x = prevSample;
 * }
 * ```
 */
export class DEISMultistepScheduler extends SigmaSolverBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = DEIS_SCHEMA;

  /** @param options - diffusers' config, camelCased; see {@link DEISMultistepSchedulerOptions}. */
  constructor(options: DEISMultistepSchedulerOptions = {}) {
    super('DEISMultistepScheduler', DEIS_SCHEMA, options);
  }

  protected schedule(n: number): { timesteps: number[]; sigmas: Float32Array } {
    const T = this.cfg<number>('num_train_timesteps');
    if (this.cfg<boolean>('use_karras_sigmas')) {
      const { timesteps, sigmas } = karrasSchedule(this.trainSigmas, this.logTrainSigmas, n, 'round');
      return { timesteps, sigmas: Float32Array.from([...Array.from(sigmas), sigmas[sigmas.length - 1]!]) };
    }
    const timesteps = multistepTimesteps(this.cfg<TimestepSpacing>('timestep_spacing'), T, T, n, this.cfg<number>('steps_offset'));
    return { timesteps, sigmas: Float32Array.from([...Array.from(sigmasAtTimesteps(this.trainSigmas, timesteps)), this.trainSigmas[0]!]) };
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SolverStepOutput {
    const fn = 'DEISMultistepScheduler.step';
    this.checkStep(fn, modelOutput, sample, options, []);
    const i = this.countedIndex(fn, t);
    const n = this.timestepValues.length;
    const solverOrder = this.cfg<number>('solver_order');
    const lowerOrderFinal = this.cfg<boolean>('lower_order_final') && n < 15;
    const order =
      solverOrder === 1 || this.lowerOrderNums < 1 || (i === n - 1 && lowerOrderFinal) ? 1 : solverOrder === 2 || this.lowerOrderNums < 2 || (i === n - 2 && lowerOrderFinal) ? 2 : 3;

    const result = tf.tidy(() => {
      const s0 = this.level(i);
      const x0 = convertModelOutput(modelOutput, sample, s0, {
        target: 'data',
        predictionType: this.cfg<PredictionType>('prediction_type'),
        learnedVariance: false,
        threshold: this.cfg<boolean>('thresholding') ? { ratio: this.cfg<number>('dynamic_thresholding_ratio'), maxValue: this.cfg<number>('sample_max_value') } : null,
      });
      const eps = epsilonFromData(x0, sample, s0);
      this.pushModelOutput(eps);
      const target = this.level(i + 1);
      if (order === 1) return { prevSample: firstOrderUpdate('dpmsolver', sample, eps, target, s0), convertedModelOutput: eps };
      const levels = Array.from({ length: order }, (_, k) => this.level(i - k));
      const coefficients = logRhoCoefficients(rhoOf(target), levels.map(rhoOf));
      // x_t = α_t (x/α_s0 + Σ c_k m_k), summed newest first as diffusers does.
      let inner = tf.div(sample, s0.alpha);
      coefficients.forEach((c, k) => (inner = tf.add(inner, tf.mul(this.newest(k + 1), c))));
      return { prevSample: tf.mul(inner, target.alpha), convertedModelOutput: eps };
    });
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, solverOrder);
    this.stepIndex = i + 1;
    return { ...result, order };
  }
}

/** ρ = σ_t/α_t, float32. */
const rhoOf = (level: NoiseLevel): number => f32(level.sigma / level.alpha);

/**
 * diffusers' DEIS coefficients c_k = F_k(ρ_t) − F_k(ρ_s0), F_k the antiderivative of the
 * Lagrange basis polynomial in log ρ through the past points (ρ_s0 newest), in float32
 * with the logs of numpy's float32 `log` (here correctly rounded).
 */
function logRhoCoefficients(rhoT: number, rhos: number[]): number[] {
  const [s0, s1, s2] = rhos as [number, number, number | undefined];
  if (s2 === undefined) {
    // ∫ (log t − log c)/(log b − log c) dt
    const ind = (t: number, b: number, c: number) => f32(f32(t * f32(f32(-logF32(c) + logF32(t)) - 1)) / f32(logF32(b) - logF32(c)));
    return [f32(ind(rhoT, s0, s1) - ind(s0, s0, s1)), f32(ind(rhoT, s1, s0) - ind(s0, s1, s0))];
  }
  // ∫ (log t − log c)(log t − log d)/((log b − log c)(log b − log d)) dt
  const ind = (t: number, b: number, c: number, d: number) => {
    const [lt, lb, lc, ld] = [logF32(t), logF32(b), logF32(c), logF32(d)];
    let inner = f32(lc * f32(f32(ld - lt) + 1));
    inner = f32(inner - f32(ld * lt));
    inner = f32(inner + ld);
    inner = f32(inner + f32(lt * lt));
    inner = f32(inner - f32(2 * lt));
    inner = f32(inner + 2);
    return f32(f32(t * inner) / f32(f32(lb - lc) * f32(lb - ld)));
  };
  return [
    f32(ind(rhoT, s0, s1, s2) - ind(s0, s0, s1, s2)),
    f32(ind(rhoT, s1, s2, s0) - ind(s0, s1, s2, s0)),
    f32(ind(rhoT, s2, s0, s1) - ind(s0, s2, s0, s1)),
  ];
}
