import * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { UNet } from '../nn/unet';
import { checkVariables } from './checks';

/**
 * A network a {@link Trainer} can train, when it is not a {@link UNet}: the diffusion
 * model function and the variables it reads.
 */
export interface TrainableModel {
  /** (x_t, t, kwargs) → output; called with kwargs `{ y?, training: true }` while training. */
  forward: DiffusionModel;
  /**
   * The float32 variables to train. Checkpoints name each after its key, or after its
   * index for an array, so build the model the same way to restore one.
   */
  trainableVariables: readonly tf.Variable[] | Readonly<Record<string, tf.Variable>>;
}

/** A model reduced to what training needs. @internal */
export interface ResolvedModel {
  forward: DiffusionModel;
  variables: tf.Variable[];
  /** Stable names for checkpoints, one per variable. */
  names: string[];
  /** The U-Net, when the model is one (its input shape and labels are checked). */
  unet: UNet | null;
}

/**
 * The forward function, variables and checkpoint names of a model. A U-Net's weights
 * are named by their layer path (`input_blocks.1.0.in_layers.0/gamma`), which, unlike
 * tfjs' variable names (`…/gamma_1` in a second instance), is the same in every
 * instance built from the same configuration.
 * @internal
 */
export function resolveTrainableModel(fn: string, arg: string, model: unknown): ResolvedModel {
  if (model instanceof UNet) {
    const weights = model.model.trainableWeights;
    return {
      forward: model.forward,
      variables: weights.map((w) => w.read() as tf.Variable),
      names: weights.map((w) => w.originalName),
      unet: model,
    };
  }
  if (model === null || typeof model !== 'object' || typeof (model as TrainableModel).forward !== 'function') {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      arg,
      `must be a UNet or { forward, trainableVariables }, got ${describeValue(model)}`,
    );
  }
  const { forward, trainableVariables } = model as TrainableModel;
  const isRecord = trainableVariables !== null && typeof trainableVariables === 'object' && !Array.isArray(trainableVariables);
  const names = isRecord ? Object.keys(trainableVariables) : Array.isArray(trainableVariables) ? trainableVariables.map((_, i) => String(i)) : [];
  const variables = checkVariables(fn, `${arg}.trainableVariables`, isRecord ? Object.values(trainableVariables) : trainableVariables);
  return { forward, variables, names, unet: null };
}
