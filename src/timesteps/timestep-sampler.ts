import type * as tf from '@tensorflow/tfjs-core';

/** Options of {@link TimestepSampler.sample} (and {@link ScheduleSampler.sample}). */
export interface TimestepSampleOptions {
  /** Seed for the index draw; a fresh random seed when absent. */
  seed?: number;
  /** A uniform [0, 1) source used instead of the seeded one. */
  random?: () => number;
}

/** A batch of timesteps drawn for training, with importance weights. */
export interface TimestepSample extends tf.TensorContainerObject {
  /** [B] int32 timesteps. */
  timesteps: tf.Tensor1D;
  /** [B] float32 importance weights 1/(T·p(t)): weighting each loss by them keeps the objective unbiased. */
  weights: tf.Tensor1D;
  /** The same timesteps on the host, to pass to {@link GaussianDiffusion.trainingLosses} or a resampler. */
  indices: Int32Array;
}

/**
 * What a {@link Trainer} needs of a timestep sampler: draws of B timesteps with
 * importance weights, and, optionally, a hook that sees each step's losses and a
 * state for checkpoints. {@link UniformSampler} and {@link LossSecondMomentResampler}
 * implement it; so can any object.
 *
 * For an unbiased objective, `weights` must be 1/(T·p(t_i)) for the p the timesteps
 * are drawn from: then E_{t∼p}[w·L_t] = (1/T)·Σ_t L_t, the uniform average.
 *
 * @example
 * ```ts
 * // Uniform draws that also record every loss (a sampler could reweight from them).
 * const uniform = new UniformSampler(diffusion.numTimesteps);
 * const seen: number[] = [];
 * const recording: TimestepSampler = {
 *   numTimesteps: uniform.numTimesteps,
 *   sample: (batchSize, options) => uniform.sample(batchSize, options),
 *   update: (timesteps, losses) => void seen.push(...Array.from(losses)),
 * };
 * const trainer = new Trainer({ diffusion, model: unet, batchSize: 64, scheduleSampler: recording });
 * // Another distribution over t: subclass ScheduleSampler and return its weights from weights().
 * ```
 */
export interface TimestepSampler {
  /** T: the sampler draws from [0, T); must equal the process's `numTimesteps`. */
  readonly numTimesteps: number;

  /**
   * Draws B timesteps. The trainer passes a seed derived from (its seed, the step),
   * so a sampler that draws only from `options.seed` makes runs reproducible and a
   * resumed run bit-identical. The trainer disposes the two tensors.
   *
   * @param batchSize - B.
   * @returns `indices` [B] on the host (integers in [0, T)), and `timesteps` [B]
   *   int32 and `weights` [B] float32 (the importance weights) as tensors.
   */
  sample(batchSize: number, options?: TimestepSampleOptions): TimestepSample;

  /**
   * Called once per training step, after the update, with the step's timesteps and
   * per-example losses (finite: a step with a non-finite loss is refused before).
   * Both are host arrays of length B, read back in the step's one readback.
   */
  update?(timesteps: ArrayLike<number>, losses: ArrayLike<number>): void;

  /**
   * The sampler's state as plain JSON, saved in checkpoints. Give `loadState` with it.
   */
  state?(): unknown;

  /**
   * Replaces the state with one from `state()`. Must check the whole state before
   * changing anything and throw (a {@link DifflibError}) for one that does not fit:
   * a trainer restoring a checkpoint calls it before it changes any weight.
   */
  loadState?(state: unknown): void;
}
