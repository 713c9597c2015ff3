import type * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel } from '../diffusion/types';

/**
 * What the sampling loop needs of a sampler, whether a diffusers-style scheduler or an
 * improved-diffusion process: the timesteps in loop order, x_T from unit noise, and one
 * step (model call included).
 * @internal
 */
export interface StepDriver {
  /** The timesteps the model is called at, in loop order. */
  readonly timesteps: readonly number[];
  /** x_T from unit noise; may return `unit` itself. */
  initialSample(unit: tf.Tensor): tf.Tensor;
  /** One step from `x` at `timesteps[index]`; `seed` seeds its noise. The result is the caller's. */
  step(model: DiffusionModel, x: tf.Tensor, index: number, seed: number | undefined): { sample: tf.Tensor; predXStart: tf.Tensor | null };
}
