import type * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel, ModelKwargs } from '../diffusion/types';

/**
 * A network a {@link Trainer} can train: the diffusion model function, the variables
 * it reads, and, optionally, the checks its inputs must pass. A {@link UNet} is turned
 * into one by {@link trainableUNet} (the Trainer does this itself when given a U-Net);
 * a model of your own opts into the same checks by giving `checkInput` and
 * `numClasses`.
 *
 * @example
 * ```ts
 * const kernel = tf.variable(tf.randomNormal([3, 3]));
 * const model: TrainableModel = {
 *   forward: (x, t) => tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(x, [-1, 3]), kernel), x.shape)),
 *   trainableVariables: { kernel }, // checkpoints name it "kernel"
 *   checkInput(fn, x0) {
 *     if (x0.shape.at(-1) !== 3) {
 *       throw new DifflibError('SHAPE_MISMATCH', fn, 'x0', `must have 3 channels, got shape [${x0.shape}]`);
 *     }
 *   },
 * };
 * const trainer = new Trainer({ diffusion, model, batchSize: 64 });
 * ```
 */
export interface TrainableModel {
  /**
   * (x_t, t, kwargs) → output; called while training with kwargs
   * `{ [labelKey]: labels, training: true }` (no labels key for an unconditional step).
   */
  forward: DiffusionModel;
  /**
   * The float32 variables to train. Checkpoints name each after its key, or after its
   * index for an array, so build the model the same way to restore one.
   */
  trainableVariables: readonly tf.Variable[] | Readonly<Record<string, tf.Variable>>;
  /**
   * Checks a batch before {@link Trainer.step} makes any tensor; throws a
   * {@link DifflibError} naming `fn` for one the model cannot take. The trainer has
   * already checked that x0 is a float32 tensor of `batchSize` examples and that the
   * labels, when given, are int32 [B].
   *
   * @param fn - the function to name in the error (`'Trainer.step'`).
   * @param x0 - the batch [B, …].
   * @param kwargs - the step's options, which are the model's kwargs (labels under
   *   `labelKey`); name an argument at fault `options.<key>`.
   */
  checkInput?(fn: string, x0: tf.Tensor, kwargs: ModelKwargs): void;
  /**
   * For a class-conditional model: how many labels it embeds (labels are integers in
   * [0, numClasses)). With label dropout the trainer then checks, at construction,
   * that the null label is one of them.
   */
  numClasses?: number;
  /**
   * A JSON-safe description that rebuilds the network (the U-Net's `toConfig()`);
   * checkpoints store it, so a run can be resumed from its files alone.
   */
  toConfig?(): Record<string, unknown>;
}
