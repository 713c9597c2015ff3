/**
 * Shared set-ups of the training tests: a tiny U-Net, a tinier ops model, the process,
 * deterministic weights, and byte-level snapshots of a trainer's state.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { GaussianDiffusion, createUNet, namedBetaSchedule, timestepEmbedding, type LossType, type UNet, type UNetConfig } from '../../src/index';
import type { Trainer, TrainableModel } from '../../src/train';

/** The brief's tiny U-Net: 8×8×1 images, learned variances. */
export const TINY_UNET: UNetConfig = {
  imageSize: 8,
  inChannels: 1,
  modelChannels: 32,
  outChannels: 2,
  numResBlocks: 1,
  attentionResolutions: [],
  channelMult: [1, 2],
  learnSigma: true,
};

/** A cosine process with learned-range variances and the hybrid loss, on T steps. */
export function makeDiffusion(numTimesteps = 100, lossType: LossType = 'rescaled_mse'): GaussianDiffusion {
  return new GaussianDiffusion({
    betas: namedBetaSchedule('cosine', numTimesteps),
    modelMeanType: 'epsilon',
    modelVarType: 'learned_range',
    lossType,
  });
}

/** The tiny U-Net with seeded weights (the same in every instance). */
export function makeUNet(config: UNetConfig = TINY_UNET, weightSeed = 7): UNet {
  const unet = createUNet(config);
  unet.model.trainableWeights.forEach((w, i) => {
    const value = tf.randomNormal(w.shape as number[], 0, 0.05, 'float32', weightSeed * 1000 + i);
    w.write(value);
    value.dispose();
  });
  return unet;
}

/**
 * A small model made of ops, fast enough for dozens of steps: a 1×1 convolution of
 * x_t plus a linear map of t's sinusoidal embedding, out to 2C channels (ε and the
 * variance interpolation v). Its variables are named, as checkpoints need.
 */
export interface OpsModel extends TrainableModel {
  trainableVariables: Record<string, tf.Variable>;
  dispose(): void;
}

export function makeOpsModel(channels = 1, weightSeed = 3): OpsModel {
  const embedDim = 8;
  const init = (shape: number[], seed: number) => tf.variable(tf.randomNormal(shape, 0, 0.1, 'float32', weightSeed * 100 + seed));
  const trainableVariables = {
    kernel: init([channels, 2 * channels], 1),
    bias: init([2 * channels], 2),
    timeKernel: init([embedDim, 2 * channels], 3),
  };
  const forward = (x: tf.Tensor, t: tf.Tensor1D): tf.Tensor =>
    tf.tidy(() => {
      const [B, H, W, C] = x.shape as [number, number, number, number];
      const pixels = tf.matMul(tf.reshape(x, [B * H * W, C]), trainableVariables.kernel);
      const time = tf.matMul(timestepEmbedding(t, embedDim), trainableVariables.timeKernel);
      const out = tf.add(tf.add(tf.reshape(pixels, [B, H, W, 2 * C]), trainableVariables.bias), tf.reshape(time, [B, 1, 1, 2 * C]));
      return out;
    });
  return { forward, trainableVariables, dispose: () => tf.dispose(Object.values(trainableVariables)) };
}

/** Constant images: the trivially learnable data set (every pixel 0.5). */
export function constantBatch(batch: number, size = 8, channels = 1, value = 0.5): tf.Tensor4D {
  return tf.fill([batch, size, size, channels], value) as tf.Tensor4D;
}

/** Seeded images in [−1, 1]. */
export function randomBatch(batch: number, seed: number, size = 8, channels = 1): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.randomNormal([batch, size, size, channels], 0, 0.5, 'float32', seed), -1, 1)) as tf.Tensor4D;
}

/** Every byte of a trainer's state: live weights, each EMA, and the optimizer's moments. */
export interface StateBytes {
  step: number;
  optimizerStep: number;
  tensors: Map<string, Uint8Array>;
}

export function stateBytes(trainer: Trainer): StateBytes {
  const bytes = (t: tf.Tensor) => new Uint8Array((t.dataSync() as Float32Array).slice().buffer);
  const tensors = new Map<string, Uint8Array>();
  trainer.variables.forEach((v, i) => {
    tensors.set(`model/${i}`, bytes(v));
    trainer.emas.forEach((ema) => tensors.set(`ema_${ema.rate}/${i}`, bytes(ema.averages[i]!)));
    const { firstMoments, secondMoments } = trainer.optimizer.getState();
    tensors.set(`m/${i}`, bytes(firstMoments[i]!));
    tensors.set(`v/${i}`, bytes(secondMoments[i]!));
  });
  return { step: trainer.stepCount, optimizerStep: trainer.optimizer.step, tensors };
}

/** Two snapshots are the same state: step, optimizer step, tensor names and every tensor's bytes. */
export function expectSameBytes(actual: StateBytes, expected: StateBytes): void {
  expect(actual.step).toBe(expected.step);
  expect(actual.optimizerStep).toBe(expected.optimizerStep);
  expect([...actual.tensors.keys()]).toEqual([...expected.tensors.keys()]);
  const differing = [...expected.tensors].filter(([key, bytes]) => !tf.util.arraysEqual(actual.tensors.get(key)!, bytes)).map(([key]) => key);
  expect(differing).toEqual([]);
}
