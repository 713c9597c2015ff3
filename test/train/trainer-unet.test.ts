/**
 * Trainer on the tiny U-Net (8×8×1, 32 channels, learned variances), on wasm: a
 * step there takes ~0.25 s, against ~16 s on tfjs' cpu backend. Resume through a
 * checkpoint directory is bit-identical, a step reads back once and leaks nothing,
 * microbatching matches one pass, and the U-Net's own input rules are enforced.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DifflibError, GaussianDiffusion, UNet, type GaussianDiffusionConfig, type UNetConfig } from '../../src/index';
import { Trainer, trainableUNet, type Checkpoint, type StepLog, type TrainerOptions } from '../../src/train';
import { useBackend } from '../backends';
import { countReadbacksAsync } from '../helpers';
import { TINY_UNET, constantBatch, makeDiffusion, makeUNet, randomBatch, stateBytes } from './fixtures';

const root = mkdtempSync(path.join(tmpdir(), 'difflib-unet-checkpoints-'));
const disposers: Array<() => void> = [];

beforeAll(async () => {
  await useBackend('wasm');
});
afterEach(() => disposers.splice(0).forEach((d) => d()));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function makeTrainer(options: Partial<TrainerOptions> = {}, weightSeed = 7): Trainer {
  const unet = makeUNet(TINY_UNET, weightSeed);
  const trainer = new Trainer({ diffusion: makeDiffusion(100), model: unet, batchSize: 4, lr: 1e-3, seed: 21, ...options });
  disposers.push(() => {
    trainer.dispose();
    unet.dispose();
  });
  return trainer;
}

async function run(trainer: Trainer, from: number, to: number): Promise<StepLog[]> {
  const logs: StepLog[] = [];
  for (let s = from; s < to; s++) {
    const x0 = randomBatch(4, 300 + s);
    logs.push(await trainer.step(x0));
    x0.dispose();
  }
  return logs;
}

describe('Trainer with a U-Net', () => {
  test('train 5 steps, or 3 → save → fresh U-Net and trainer → load → 2: every byte equal', async () => {
    const options: Partial<TrainerOptions> = { scheduleSampler: 'loss-second-moment', emaRates: [0.9999, 0.9], weightDecay: 0.01, warmupSteps: 2, gradClipNorm: 1 };
    const uninterrupted = makeTrainer(options);
    const logs = await run(uninterrupted, 0, 5);

    const first = makeTrainer(options);
    await run(first, 0, 3);
    const dir = path.join(root, 'resume');
    await first.save(dir);

    const unet = makeUNet(TINY_UNET, 1234); // other initial weights: all must be overwritten
    const resumed = await Trainer.load(dir, { diffusion: makeDiffusion(100), model: unet });
    disposers.push(() => {
      resumed.dispose();
      unet.dispose();
    });
    const resumedLogs = await run(resumed, 3, 5);

    const [expected, actual] = [stateBytes(uninterrupted), stateBytes(resumed)];
    expect(actual.step).toBe(5);
    expect(actual.optimizerStep).toBe(expected.optimizerStep);
    const differing = [...expected.tensors].filter(([key, bytes]) => !tf.util.arraysEqual(actual.tensors.get(key)!, bytes)).map(([k]) => k);
    expect(differing).toEqual([]);
    expect(resumedLogs).toEqual(logs.slice(3));
  });

  test('a U-Net checkpoint of another process is refused by Trainer.load, leaving no tensor behind and the weights untouched', async () => {
    const dir = path.join(root, 'other-process');
    await makeTrainer({ emaRates: [0.9999, 0.9] }).save(dir);
    const unet = makeUNet(TINY_UNET, 1234);
    disposers.push(() => unet.dispose());
    const weights = unet.model.trainableWeights.map((w) => (w.read().dataSync() as Float32Array).slice());
    const before = tf.memory().numTensors;
    // Before the fix the refused load left the new trainer's moments and EMAs behind: 4 tensors per weight here.
    const error = await Trainer.load(dir, { diffusion: makeDiffusion(50), model: unet }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DifflibError);
    expect((error as DifflibError).message).toMatch(/^Trainer\.load: checkpoint \(.*state\.json\) does not fit this trainer: diffusion\.numTimesteps is 100 in the checkpoint but 50 here$/);
    expect(tf.memory().numTensors).toBe(before);
    unet.model.trainableWeights.forEach((w, i) => expect(w.read().dataSync()).toEqual(weights[i]));
  });

  test('a step reads back once and the tensor count stays constant', async () => {
    const trainer = makeTrainer({ microbatch: 2 });
    const x0 = randomBatch(4, 1);
    const start = tf.memory().numTensors;
    for (let s = 0; s < 3; s++) {
      expect(await countReadbacksAsync(async () => void (await trainer.step(x0)))).toBe(1);
      expect(tf.memory().numTensors).toBe(start);
    }
    x0.dispose();
  });

  test('microbatches of 2 give the gradient of one batch of 4', async () => {
    const whole = makeTrainer();
    const halves = makeTrainer({ microbatch: 2 });
    const x0 = randomBatch(4, 2);
    const [a, b] = [await whole.step(x0), await halves.step(x0)];
    x0.dispose();
    // m = (1 − β₁)·g after one step. Sums over batch and position run in another order:
    // per weight, |Δ| ≤ 1e-4·max|g| + 1e-6·max over the model (as the U-Net gradient tests allow).
    const moments = (t: Trainer) => t.optimizer.getState().firstMoments.map((m) => m.dataSync() as Float32Array);
    const [ma, mb] = [moments(whole), moments(halves)];
    const maxAbs = (m: Float32Array) => m.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
    const global = Math.max(...ma.map(maxAbs));
    const excess = ma.map((m, i) => {
      const bound = 1e-4 * maxAbs(m) + 1e-6 * global;
      return m.reduce((worst, v, j) => Math.max(worst, Math.abs(v - mb[i]![j]!) / bound), 0);
    });
    expect(Math.max(...excess)).toBeLessThanOrEqual(1);
    expect(b.gradNorm).toBeCloseTo(a.gradNorm, 4);
  });

  test('the loss falls on constant images within two dozen steps', async () => {
    const unet = makeUNet();
    const trainer = new Trainer({ diffusion: makeDiffusion(100), model: unet, batchSize: 4, lr: 5e-3, seed: 21, emaRates: [] });
    disposers.push(() => {
      trainer.dispose();
      unet.dispose();
    });
    const x8 = constantBatch(8);
    const noise = tf.randomNormal(x8.shape, 0, 1, 'float32', 99);
    const t = [0, 14, 28, 42, 57, 71, 85, 99];
    const evalMse = () => tf.tidy(() => tf.mean(trainer.diffusion.trainingLosses(unet.forward, x8, t, { noise }).mse!).dataSync()[0]!);
    const before = evalMse();
    const x0 = constantBatch(4);
    for (let s = 0; s < 24; s++) await trainer.step(x0);
    // A fixed evaluation (same t and ε): measured 0.98 → 0.13 on wasm.
    expect(evalMse()).toBeLessThan(0.3 * before);
    tf.dispose([x0, x8, noise]);
  });

  test("the U-Net's input shape and labels are checked before any tensor is made", async () => {
    const trainer = makeTrainer();
    const conditional = createConditionalTrainer();
    const rgb = randomBatch(4, 1, 8, 3);
    const x0 = randomBatch(4, 1);
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
    const threeLabels = tf.tensor1d([0, 1, 2], 'int32');
    const cases: Array<[() => Promise<unknown>, string, string]> = [
      [() => trainer.step(rgb), 'x0', 'SHAPE_MISMATCH'],
      [() => trainer.step(x0, { y: labels }), 'options.y', 'INVALID_ARGUMENT'],
      [() => conditional.step(x0), 'options.y', 'INVALID_ARGUMENT'],
      [() => conditional.step(x0, { y: threeLabels }), 'options.y', 'SHAPE_MISMATCH'],
    ];
    for (const [body, argument, code] of cases) {
      const before = tf.memory().numTensors;
      const error = await body().catch((e: unknown) => e);
      expect(error, argument).toBeInstanceOf(DifflibError);
      expect([(error as DifflibError).functionName, (error as DifflibError).argument, (error as DifflibError).code]).toEqual(['Trainer.step', argument, code]);
      expect(tf.memory().numTensors).toBe(before);
    }
    // With labels, the class-conditional U-Net trains.
    const log = await conditional.step(x0, { y: labels });
    expect(Number.isFinite(log.loss.mean)).toBe(true);
    tf.dispose([rgb, x0, labels, threeLabels]);
  });
});

describe('the U-Net as a TrainableModel (trainableUNet)', () => {
  test('checkpoints name its weights by layer path, as before; its numClasses bounds the null label; it takes labels under y only', async () => {
    const unet = makeUNet({ ...TINY_UNET, numClasses: 5 });
    disposers.push(() => unet.dispose());
    const model = trainableUNet(unet);
    const paths = unet.model.trainableWeights.map((w) => w.originalName);
    expect(Object.keys(model.trainableVariables)).toEqual(paths);
    expect(paths[0]).toBe('time_embed.0/kernel');
    expect(model.numClasses).toBe(5);

    const before = tf.memory().numTensors;
    const options = { diffusion: makeDiffusion(100), model: unet, batchSize: 4, seed: 3 };
    const refused = (() => {
      try {
        return new Trainer({ ...options, labelDropout: { probability: 0.2, nullLabel: 5 } });
      } catch (e) {
        return e;
      }
    })();
    expect((refused as DifflibError).message).toBe(
      'Trainer: options.labelDropout.nullLabel must be a label the model embeds, in [0, 4], got 5 (for K classes, build the model with numClasses: K + 1 and use K)',
    );
    expect(tf.memory().numTensors).toBe(before);

    const x0 = randomBatch(4, 1);
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
    const otherKey = new Trainer({ ...options, labelKey: 'c' });
    disposers.push(() => otherKey.dispose());
    const start = tf.memory().numTensors;
    const error = await otherKey.step(x0, { c: labels }).catch((e: unknown) => e);
    expect((error as DifflibError).message).toBe("Trainer.step: options.c is not an input of the U-Net, which reads its labels from y (set the trainer's labelKey to 'y')");
    expect(tf.memory().numTensors).toBe(start);

    // Classifier-free guidance training: classes 0–3, the null label 4.
    const trainer = new Trainer({ ...options, model, labelDropout: { probability: 0.5, nullLabel: 4 } });
    disposers.push(() => trainer.dispose());
    const log = await trainer.step(x0, { y: labels });
    expect(Number.isFinite(log.loss.mean)).toBe(true);
    let saved: Checkpoint | undefined;
    await trainer.save({ write: async (c) => void (saved = c), read: async () => saved! });
    expect((saved!.state['parameters'] as Array<{ name: string }>).map((p) => p.name)).toEqual(paths);
    // The checkpoint holds the configs that rebuild the run: the process and the U-Net.
    const state = JSON.parse(JSON.stringify(saved!.state)) as { process: GaussianDiffusionConfig; model: UNetConfig };
    const process = GaussianDiffusion.fromConfig(state.process);
    expect(Array.from(process.alphasCumprod)).toEqual(Array.from(options.diffusion.alphasCumprod));
    expect(process.modelVarType).toBe(options.diffusion.modelVarType);
    const rebuilt = UNet.fromConfig(state.model);
    expect(rebuilt.config).toEqual(unet.config);
    rebuilt.dispose();
    tf.dispose([x0, labels]);
  });
});

function createConditionalTrainer(): Trainer {
  const unet = makeUNet({ ...TINY_UNET, numClasses: 4 });
  const trainer = new Trainer({ diffusion: makeDiffusion(100), model: unet, batchSize: 4, seed: 1 });
  disposers.push(() => {
    trainer.dispose();
    unet.dispose();
  });
  return trainer;
}
