// Training a user's own conv model on wasm through difflib: either the gradients work
// (after registerWasmTrainingKernels) or difflib refuses with a DifflibError that names
// the fix — never tfjs' bare "Kernel 'Conv2DBackpropFilter' not registered". And
// createUNet's kernel registration is documented and can be turned off.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DifflibError,
  GaussianDiffusion,
  Trainer,
  createUNet,
  denoisingScoreMatchingLoss,
  geometricSigmas,
  namedBetaSchedule,
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  type DiffusionModel,
} from '../../src/index';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { TINY_UNET } from '../train/fixtures';

const diffusion = new GaussianDiffusion({
  betas: namedBetaSchedule('linear', 100),
  modelMeanType: 'epsilon',
  modelVarType: 'fixed_small',
  lossType: 'mse',
});

/** A user's model of plain ops: one 3×3 convolution of x_t (no U-Net, nothing of difflib's). */
function convModel(seed = 5): { forward: DiffusionModel; trainableVariables: tf.Variable[]; dispose(): void } {
  const filter = tf.variable(tf.randomNormal([3, 3, 2, 2], 0, 0.2, 'float32', seed));
  return {
    forward: (x) => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same'),
    trainableVariables: [filter],
    dispose: () => filter.dispose(),
  };
}

/** A dense model: its gradients need no kernel wasm lacks. */
function denseModel(): { forward: DiffusionModel; dispose(): void; kernel: tf.Variable } {
  const kernel = tf.variable(tf.randomNormal([2, 2], 0, 0.2, 'float32', 9));
  return {
    forward: (x) => tf.reshape(tf.matMul(tf.reshape(x, [-1, 2]), kernel), x.shape),
    dispose: () => kernel.dispose(),
    kernel,
  };
}

const x0 = () => tf.randomUniform([2, 4, 4, 2], -1, 1, 'float32', 3);
const noise = () => tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 4);

/** d loss / d filter through trainingLosses on the active backend. */
function lossGradient(forward: DiffusionModel, variable: tf.Variable): { loss: Float32Array; grad: Float32Array } {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(diffusion.trainingLosses(forward, x0(), [3, 70], { noise: noise() }).loss) as tf.Scalar,
      [variable],
    );
    return { loss: value.dataSync() as Float32Array, grad: grads[variable.name]!.dataSync() as Float32Array };
  });
}

describe('gradients of a user conv model on wasm', () => {
  beforeAll(() => useBackend('wasm'));
  afterEach(() => unregisterWasmTrainingKernels());

  it('trainingLosses refuses, naming registerWasmTrainingKernels(), before the backward pass, leaking nothing', () => {
    unregisterWasmTrainingKernels();
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')).toBeUndefined();
    const model = convModel();
    const before = tf.memory().numTensors;
    const err = expectDifflibError(
      () => tf.variableGrads(() => tf.mean(diffusion.trainingLosses(model.forward, x0(), [3, 70]).loss) as tf.Scalar),
      'trainingLosses',
      'model',
      'UNSATISFIABLE',
    );
    expect(err.message).toMatch(/runs Conv2D, whose gradient on the wasm backend needs the Conv2DBackpropFilter kernel.*registerWasmTrainingKernels\(\)/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('Trainer.step refuses the same way, and the model is unchanged', async () => {
    unregisterWasmTrainingKernels();
    const model = convModel();
    const start = model.trainableVariables[0]!.dataSync().slice();
    const trainer = new Trainer({ diffusion, model, batchSize: 2, lr: 1e-2, seed: 1 });
    const batch = x0();
    const before = tf.memory().numTensors;
    const err = await trainer.step(batch).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DifflibError);
    expect((err as DifflibError).message).toMatch(/^trainingLosses: model runs Conv2D.*registerWasmTrainingKernels\(\)/);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(model.trainableVariables[0]!.dataSync())).toEqual(Array.from(start));
    trainer.dispose();
    batch.dispose();
    model.dispose();
  });

  it('denoisingScoreMatchingLoss refuses a conv score model the same way', () => {
    unregisterWasmTrainingKernels();
    const model = convModel();
    const err = expectDifflibError(
      () =>
        tf.variableGrads(
          () => tf.mean(denoisingScoreMatchingLoss((x) => model.forward(x, tf.zeros([2])), x0(), [0, 2], geometricSigmas(1, 0.1, 3))) as tf.Scalar,
        ),
      'denoisingScoreMatchingLoss',
      'scoreModel',
      'UNSATISFIABLE',
    );
    expect(err.message).toContain('registerWasmTrainingKernels()');
    model.dispose();
  });

  it('works after registerWasmTrainingKernels(): loss and gradient equal the cpu backend', async () => {
    registerWasmTrainingKernels();
    const model = convModel();
    const wasm = lossGradient(model.forward, model.trainableVariables[0]!);
    await useBackend('cpu');
    const cpuModel = convModel(); // same seed: the same filter on cpu
    const cpu = lossGradient(cpuModel.forward, cpuModel.trainableVariables[0]!);
    cpuModel.dispose();
    await useBackend('wasm');
    expect(wasm.loss[0]).toBeCloseTo(cpu.loss[0]!, 5);
    const scale = Math.max(...cpu.grad.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    wasm.grad.forEach((g, i) => expect(Math.abs(g - cpu.grad[i]!)).toBeLessThan(1e-5 * scale));
    model.dispose();
  });

  it('refuses nothing that works: a dense model trains without the kernels, and no refusal outside gradients', () => {
    unregisterWasmTrainingKernels();
    const dense = denseModel();
    const { grad } = lossGradient(dense.forward, dense.kernel);
    expect(grad.every(Number.isFinite)).toBe(true);
    expect(grad.some((g) => g !== 0)).toBe(true);
    dense.dispose();
    const conv = convModel();
    const loss = tf.tidy(() => diffusion.trainingLosses(conv.forward, x0(), [3, 70]).loss.dataSync());
    expect(Array.from(loss).every(Number.isFinite)).toBe(true);
    conv.dispose();
  });
});

describe("createUNet's wasm kernel registration", () => {
  beforeAll(() => useBackend('wasm'));
  afterEach(() => unregisterWasmTrainingKernels());

  it('registers them by default, as documented', () => {
    unregisterWasmTrainingKernels();
    const own = tf.getKernel(tf.BatchMatMul, 'wasm');
    const unet = createUNet(TINY_UNET);
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')).toBeDefined();
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')).not.toBe(own);
    unet.dispose();
  });

  it('changes no kernel with { registerWasmKernels: false }; training it then refuses with the fix named', () => {
    unregisterWasmTrainingKernels();
    const names = [tf.BatchMatMul, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter, tf.UnsortedSegmentSum];
    const kernels = names.map((name) => tf.getKernel(name, 'wasm'));
    const unet = createUNet(TINY_UNET, { registerWasmKernels: false });
    expect(names.map((name) => tf.getKernel(name, 'wasm'))).toEqual(kernels);
    const process = new GaussianDiffusion({ betas: namedBetaSchedule('linear', 100), modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse' });
    const x = tf.randomUniform([1, 8, 8, 1], -1, 1, 'float32', 1);
    const err = expectDifflibError(
      () => tf.variableGrads(() => tf.mean(process.trainingLosses(unet.forward, x, [5]).loss) as tf.Scalar),
      'trainingLosses',
      'model',
    );
    expect(err.message).toContain('registerWasmTrainingKernels()');
    x.dispose();
    unet.dispose();
  });

  it('refuses an options value that is not an object or a flag that is not a boolean, before building anything', () => {
    expectDifflibError(() => createUNet(TINY_UNET, null as never), 'createUNet', 'options');
    expectDifflibError(() => createUNet(TINY_UNET, { registerWasmKernels: 'no' as never }), 'createUNet', 'options.registerWasmKernels');
  });
});
