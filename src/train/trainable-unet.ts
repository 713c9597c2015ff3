import * as tf from '@tensorflow/tfjs-core';
import type { ModelKwargs } from '../diffusion/types';
import { DifflibError } from '../errors';
import type { UNet } from '../nn/unet';
import { shapeString } from '../validate';
import type { TrainableModel } from './trainable-model';

/**
 * A {@link UNet} as a {@link TrainableModel}: its `forward`, its weights named by
 * layer path (`input_blocks.1.0.in_layers.0/gamma`, which, unlike tfjs' variable names
 * such as `…/gamma_1` in a second instance, is the same in every U-Net built from the
 * same configuration, so checkpoints restore into a fresh one), its `numClasses`, and
 * a `checkInput` that asks for batches [B, imageSize, imageSize, inChannels] and for
 * labels `y` exactly when the U-Net is class-conditional. A {@link Trainer} given a
 * U-Net calls this itself.
 *
 * @example
 * ```ts
 * const unet = createUNet({ imageSize: 32, inChannels: 3, modelChannels: 64, outChannels: 3,
 *   numResBlocks: 2, attentionResolutions: [16], numClasses: 11 });
 * const model = trainableUNet(unet);
 * Object.keys(model.trainableVariables)[0]; // 'time_embed.0/kernel'
 * const trainer = new Trainer({ diffusion, model, batchSize: 64 }); // the same as model: unet
 * ```
 */
export function trainableUNet(unet: UNet): TrainableModel {
  const weights = unet.model.trainableWeights;
  const trainableVariables = Object.fromEntries(weights.map((w) => [w.originalName, w.read() as tf.Variable]));
  if (Object.keys(trainableVariables).length !== weights.length) {
    throw new DifflibError('INVALID_ARGUMENT', 'trainableUNet', 'unet', 'has two weights with the same layer path: checkpoints could not tell them apart');
  }
  const { imageSize, inChannels, numClasses } = unet.config;
  return {
    forward: unet.forward,
    trainableVariables,
    toConfig: () => ({ ...unet.toConfig() }),
    ...(numClasses !== null ? { numClasses } : {}),
    checkInput(fn: string, x0: tf.Tensor, kwargs: ModelKwargs): void {
      const expected = [x0.shape[0]!, imageSize, imageSize, inChannels];
      if (!tf.util.arraysEqual(x0.shape, expected)) {
        throw new DifflibError('SHAPE_MISMATCH', fn, 'x0', `must have shape [B,${imageSize},${imageSize},${inChannels}] (the U-Net's imageSize and inChannels), got ${shapeString(x0.shape)}`);
      }
      const other = Object.keys(kwargs).find((key) => key !== 'y' && kwargs[key] !== undefined);
      if (other !== undefined) {
        throw new DifflibError('INVALID_ARGUMENT', fn, `options.${other}`, "is not an input of the U-Net, which reads its labels from y (set the trainer's labelKey to 'y')");
      }
      if (numClasses === null && kwargs['y'] !== undefined) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'options.y', 'was given but the U-Net is unconditional (config.numClasses is not set)');
      }
      if (numClasses !== null && kwargs['y'] === undefined) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'options.y', `is required: the U-Net is class-conditional over ${numClasses} classes`);
      }
    },
  };
}
