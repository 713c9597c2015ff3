import type * as tf from '@tensorflow/tfjs-core';

// Result objects extend TensorContainerObject so they can go straight to
// `tf.dispose(result)` or be returned from `tf.tidy`.

/**
 * What the model predicts: ε (DDPM), x_0, x_{t−1}, or v = √ᾱ_t ε − √(1−ᾱ_t) x_0
 * (Salimans & Ho 2022, "Progressive Distillation").
 */
export type ModelMeanType = 'epsilon' | 'start_x' | 'previous_x' | 'v';
/**
 * The accepted {@link ModelMeanType} values: `epsilon`, `start_x`, `previous_x`, `v`.
 *
 * @example
 * ```ts
 * // check a user's choice (e.g. a CLI flag) before building the process
 * const modelMeanType = MODEL_MEAN_TYPES.find((m) => m === flags.predict);
 * if (!modelMeanType) throw new Error(`--predict must be one of ${MODEL_MEAN_TYPES.join(', ')}`);
 * ```
 */
export const MODEL_MEAN_TYPES: readonly ModelMeanType[] = ['epsilon', 'start_x', 'previous_x', 'v'];

/**
 * How the reverse-process variance Σ_θ(x_t, t) is obtained:
 * - `fixed_small`: β̃_t, the posterior variance (lower bound of the optimal one);
 * - `fixed_large`: β_t (upper bound), with β̃_1 at t = 0;
 * - `learned`: the model outputs log Σ directly in its last C channels;
 * - `learned_range`: the model outputs v ∈ [−1, 1] and
 *   log Σ = ((v+1)/2)·log β_t + (1 − (v+1)/2)·log β̃_t (Improved DDPM, eq. 15).
 */
export type ModelVarType = 'fixed_small' | 'fixed_large' | 'learned' | 'learned_range';
/**
 * The accepted {@link ModelVarType} values: `fixed_small`, `fixed_large`, `learned`,
 * `learned_range`.
 *
 * @example
 * ```ts
 * const learned = MODEL_VAR_TYPES.filter((v) => v.startsWith('learned')); // ['learned', 'learned_range']
 * // a model for these outputs 2C channels: the mean part, then the variance part
 * ```
 */
export const MODEL_VAR_TYPES: readonly ModelVarType[] = ['fixed_small', 'fixed_large', 'learned', 'learned_range'];

/**
 * The training objective:
 * - `mse`: L_simple, ‖target − prediction‖² (plus L_vlb on the variance when it is learned);
 * - `rescaled_mse`: as `mse`, with L_vlb scaled by T/1000 — the hybrid loss
 *   L_simple + λ·L_vlb of Improved DDPM with λ = 0.001 per 1000 steps;
 * - `kl`: the variational bound term L_{t}, in bits per dimension;
 * - `rescaled_kl`: `kl` × T, an estimate of the full bound from one term.
 */
export type LossType = 'mse' | 'rescaled_mse' | 'kl' | 'rescaled_kl';
/**
 * The accepted {@link LossType} values: `mse`, `rescaled_mse`, `kl`, `rescaled_kl`.
 *
 * @example
 * ```ts
 * const diffusions = LOSS_TYPES.map((lossType) =>
 *   new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType }));
 * // compare their trainingLosses(model, x0, t).loss on one batch
 * ```
 */
export const LOSS_TYPES: readonly LossType[] = ['mse', 'rescaled_mse', 'kl', 'rescaled_kl'];

/** Extra arguments passed through to the model (class labels, for example). */
export type ModelKwargs = Record<string, unknown>;

/**
 * The network seen by the diffusion process: `(x_t, t) → output`, where x_t is
 * [B, …, C] (channels last) and t holds one timestep per batch element — int32, or
 * float32 when the process rescales timesteps to [0, 1000). The output is [B, …, C],
 * or [B, …, 2C] for learned variances (mean part first, variance part last). The
 * process disposes what the model returns.
 */
export type DiffusionModel<X extends tf.Tensor = tf.Tensor> = (x: X, t: tf.Tensor1D, kwargs?: ModelKwargs) => tf.Tensor;

/** Applied to the x_0 prediction before clipping (e.g. dynamic thresholding). */
export type DenoisedFn = (predXStart: tf.Tensor) => tf.Tensor;

/** Options shared by every method that calls the model. */
export interface ModelCallOptions {
  /** Clip the x_0 prediction to [−1, 1]. Default true (false for the training bound, as in the reference). */
  clipDenoised?: boolean;
  /** Transforms the x_0 prediction before clipping. */
  denoisedFn?: DenoisedFn;
  /** Passed as the model's third argument. */
  modelKwargs?: ModelKwargs;
}

/** A Gaussian's mean with its (log-)variance, each shaped like the data. */
export interface GaussianMoments extends tf.TensorContainerObject {
  /** Mean, [B, …]. */
  mean: tf.Tensor;
  /** Variance, [B, …]. */
  variance: tf.Tensor;
  /** Log-variance, [B, …]. */
  logVariance: tf.Tensor;
}

/** p_θ(x_{t−1} | x_t) and the x_0 prediction behind it. */
export interface PMeanVariance extends GaussianMoments {
  /** x̂_0, [B, …]. */
  predXStart: tf.Tensor;
}

/** One sampler step's result. */
export interface SampleStep extends tf.TensorContainerObject {
  /** The next state (x_{t−1}, or x_{t+1} for the reverse DDIM step), [B, …]. */
  sample: tf.Tensor;
  /** x̂_0 at this step, [B, …]. */
  predXStart: tf.Tensor;
}

/** Per-example training terms, each [B]. */
export interface TrainingLosses extends tf.TensorContainerObject {
  /** The objective to minimise (average it over the batch, with importance weights if any). */
  loss: tf.Tensor1D;
  /** ‖target − prediction‖² averaged over non-batch axes (`mse`/`rescaled_mse` only). */
  mse?: tf.Tensor1D;
  /** L_vlb term in bits/dim seen through a stop-gradient on the mean (learned variances with `mse`/`rescaled_mse`). */
  vb?: tf.Tensor1D;
}

/** One variational-bound term. */
export interface VbTerms extends tf.TensorContainerObject {
  /** L_t in bits/dim: the decoder NLL where t = 0, else KL(q(x_{t−1}|x_t,x_0) ‖ p_θ(x_{t−1}|x_t)). [B] */
  output: tf.Tensor1D;
  /** x̂_0, [B, …]. */
  predXStart: tf.Tensor;
}

/** The full bound from {@link GaussianDiffusion.calcBpdLoop}. */
export interface BpdLoopResult extends tf.TensorContainerObject {
  /** Σ_t L_t + L_T in bits/dim, [B]. */
  totalBpd: tf.Tensor1D;
  /** L_T = KL(q(x_T|x_0) ‖ N(0, I)) in bits/dim, [B]. */
  priorBpd: tf.Tensor1D;
  /** L_t for each step, [B, T]; column j holds t = T−1−j (loop order). */
  vb: tf.Tensor2D;
  /** ‖x̂_0 − x_0‖² mean per step, [B, T], loop order. */
  xstartMse: tf.Tensor2D;
  /** ‖ε̂ − ε‖² mean per step, [B, T], loop order. */
  mse: tf.Tensor2D;
}
