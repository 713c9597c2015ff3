import type * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel, ModelKwargs } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { UNet } from '../nn/unet';
import { checkVariables } from './checks';
import type { TrainableModel } from './trainable-model';
import { trainableUNet } from './trainable-unet';

/** A model reduced to what training needs. @internal */
export interface ResolvedModel {
  forward: DiffusionModel;
  variables: tf.Variable[];
  /** Stable names for checkpoints, one per variable. */
  names: string[];
  /** The model's own input check, or none. */
  checkInput: (fn: string, x0: tf.Tensor, kwargs: ModelKwargs) => void;
  /** The number of labels the model embeds, or null when it does not say. */
  numClasses: number | null;
  /** The model's config (`toConfig()`), or null for a model without one. */
  config: () => Record<string, unknown> | null;
}

/**
 * The forward function, variables, checkpoint names and input check of a model (a
 * U-Net through {@link trainableUNet}), all checked.
 * @internal
 */
export function resolveTrainableModel(fn: string, arg: string, given: unknown): ResolvedModel {
  const model = given instanceof UNet ? trainableUNet(given) : given;
  if (model === null || typeof model !== 'object' || typeof (model as TrainableModel).forward !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a UNet or a TrainableModel { forward, trainableVariables }, got ${describeValue(model)}`);
  }
  const { forward, trainableVariables, checkInput, numClasses, toConfig } = model as TrainableModel;
  const isRecord = trainableVariables !== null && typeof trainableVariables === 'object' && !Array.isArray(trainableVariables);
  const names = isRecord ? Object.keys(trainableVariables) : Array.isArray(trainableVariables) ? trainableVariables.map((_, i) => String(i)) : [];
  const variables = checkVariables(fn, `${arg}.trainableVariables`, isRecord ? Object.values(trainableVariables) : trainableVariables);
  if (checkInput !== undefined && typeof checkInput !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.checkInput`, `must be a function (fn, x0, kwargs) => void, got ${describeValue(checkInput)}`);
  }
  if (numClasses !== undefined && !(typeof numClasses === 'number' && Number.isInteger(numClasses) && numClasses >= 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.numClasses`, `must be a positive integer (or absent), got ${describeValue(numClasses)}`);
  }
  return {
    forward,
    variables,
    names,
    checkInput: checkInput ? (f, x0, kwargs) => checkInput.call(model, f, x0, kwargs) : () => undefined,
    numClasses: numClasses ?? null,
    config: typeof toConfig === 'function' ? () => toConfig.call(model) : () => null,
  };
}
