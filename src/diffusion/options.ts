import type * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule, NoiseScheduleConfig } from '../schedules/noise-schedule';
import type { LossType, ModelCallOptions, ModelKwargs, ModelMeanType, ModelVarType } from './types';

/** How to build a {@link GaussianDiffusion}. Give `betas` or `schedule`. */
export interface GaussianDiffusionOptions {
  /** β_0 … β_{T−1}, each finite and in (0, 1]; at least two. */
  betas?: ArrayLike<number>;
  /** A {@link NoiseSchedule} (possibly already respaced) instead of `betas`. */
  schedule?: NoiseSchedule;
  /** What the model predicts. */
  modelMeanType: ModelMeanType;
  /** How the reverse variance is obtained. */
  modelVarType: ModelVarType;
  /** The training objective. */
  lossType: LossType;
  /** Pass the model float timesteps scaled to [0, 1000) instead of integer steps. */
  rescaleTimesteps?: boolean;
  /**
   * Keep only these steps of the process (improved-diffusion's `SpacedDiffusion`):
   * the steps themselves, or a section-count string such as `"ddim50"` or `"10,20"`
   * (see {@link spaceTimesteps}). The model is still called with the original steps.
   */
  useTimesteps?: Iterable<number> | string;
}

/** Options of {@link GaussianDiffusion.qSample}. */
export interface QSampleOptions {
  /** Seed for the noise draw when no noise is given. */
  seed?: number;
}

/**
 * Classifier guidance (Dhariwal & Nichol 2021): ∇_{x_t} log p_φ(y | x_t), shaped like
 * x_t. It gets the timesteps the model gets and the model kwargs (with the labels);
 * the process disposes what it returns. Typically `tf.grad` of a classifier's
 * log-probability, times a guidance scale.
 */
export type CondFn = (x: tf.Tensor, t: tf.Tensor1D, kwargs?: ModelKwargs) => tf.Tensor;

/** Options of {@link GaussianDiffusion.pSample}. */
export interface PSampleOptions extends ModelCallOptions {
  /** Shift the mean by Σ·∇ log p(y | x_t) (guided-diffusion's `condition_mean`). */
  condFn?: CondFn;
  /** ε ~ N(0, I) for this step, x's shape; drawn (with `seed`) when absent. */
  noise?: tf.Tensor;
  /** Seed for the noise draw when no noise is given. */
  seed?: number;
}

/** Options of {@link GaussianDiffusion.ddimSample}. */
export interface DdimSampleOptions extends PSampleOptions {
  /** η: 0 gives deterministic DDIM, 1 the DDPM posterior variance. Default 0. */
  eta?: number;
}

/** Options of {@link GaussianDiffusion.ddimReverseSample}. */
export interface DdimReverseSampleOptions extends ModelCallOptions {
  /** Must be 0: the reverse ODE step is deterministic. */
  eta?: number;
}

/** Options of {@link GaussianDiffusion.trainingLosses}. */
export interface TrainingLossesOptions {
  /**
   * Min-SNR-γ weighting of the mse term (Hang et al. 2023, "Efficient Diffusion
   * Training via Min-SNR Weighting Strategy"): γ = 5 in the paper. Not for `previous_x`.
   */
  minSnrGamma?: number;
  /** ε used to form x_t = q_sample(x_0, t, ε), x_0's shape; drawn (with `seed`) when absent. */
  noise?: tf.Tensor;
  /** Seed for the noise draw when no noise is given. */
  seed?: number;
  /** Passed as the model's third argument. */
  modelKwargs?: ModelKwargs;
}

/** Options of {@link GaussianDiffusion.calcBpdLoop}. */
export interface CalcBpdLoopOptions {
  /** Clip x̂_0 to [−1, 1]. Default true. */
  clipDenoised?: boolean;
  /** Passed as the model's third argument. */
  modelKwargs?: ModelKwargs;
  /** ε for step t, x_0's shape (the caller owns it); drawn (with `seed`) when absent. */
  noise?: (t: number) => tf.Tensor;
  /** Seed for the noise draws when no `noise` is given; step t uses seed + t. */
  seed?: number;
  /** Called after each of the T steps with (steps done, T). */
  onProgress?: (done: number, total: number) => void;
}

/** A JSON-safe description of a {@link GaussianDiffusion}: `GaussianDiffusion.fromConfig` rebuilds it exactly. */
export interface GaussianDiffusionConfig {
  /** The (possibly respaced) schedule. */
  schedule: NoiseScheduleConfig;
  /** What the model predicts. */
  modelMeanType: ModelMeanType;
  /** How the reverse variance is obtained. */
  modelVarType: ModelVarType;
  /** The training objective. */
  lossType: LossType;
  /** Whether the model sees timesteps scaled to [0, 1000). */
  rescaleTimesteps: boolean;
}
