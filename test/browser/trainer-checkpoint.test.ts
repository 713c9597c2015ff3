/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer } from '../../src/index';
import { makeDiffusion, makeOpsModel, randomBatch, stateBytes } from '../train/fixtures';
import { useWebGL } from './setup-webgl';

describe('Trainer checkpoints in the browser', () => {
  beforeAll(() => useWebGL());

  it('saves to IndexedDB and restores every weight, EMA and moment bit for bit, on webgl', async () => {
    const url = `indexeddb://difflib-trainer-${Date.now()}`;
    const diffusion = makeDiffusion(100);
    const a = makeOpsModel(1, 3);
    const trainer = new Trainer({ diffusion, model: a, batchSize: 4, lr: 1e-2, emaRates: [0.9, 0.99], seed: 11 });
    for (let step = 0; step < 3; step++) {
      const x0 = randomBatch(4, step);
      await trainer.step(x0);
      x0.dispose();
    }
    await trainer.save(url);
    const saved = stateBytes(trainer);

    const b = makeOpsModel(1, 9); // other initial weights
    const restored = await Trainer.load(url, { diffusion, model: b });
    const loaded = stateBytes(restored);
    expect(loaded.step).toBe(3);
    expect(loaded.optimizerStep).toBe(saved.optimizerStep);
    for (const [name, bytes] of saved.tensors) expect(Array.from(loaded.tensors.get(name)!), name).toEqual(Array.from(bytes));
    // Both continue identically.
    const x0 = randomBatch(4, 3);
    const [la, lb] = [await trainer.step(x0), await restored.step(x0)];
    expect(lb.loss.mean).toBe(la.loss.mean);
    x0.dispose();
    await tf.io.removeModel(url);
    for (const t of [trainer, restored]) t.dispose();
    a.dispose();
    b.dispose();
  });
});
