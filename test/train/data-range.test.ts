/**
 * Data in the wrong range, caught when asked: `checkDataRange` (one readback of two
 * numbers) and the Trainer's `expectDataRange` (the first batch's min and max ride in
 * the step's own readback). 8-bit pixels in [0, 255] are refused with the numbers seen
 * and a hint, nothing is updated and nothing leaks; [−1, 1] data passes; without the
 * option a step reads back exactly as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DifflibError, checkDataRange, digitsFromPixels } from '../../src/index';
import { IOHandlerCheckpointStore, Trainer, type TrainerOptions } from '../../src/train';
import { useBackend } from '../backends';
import { countReadbacksAsync } from '../helpers';
import { makeDiffusion, makeOpsModel, randomBatch, stateBytes } from './fixtures';

const cleanup: Array<() => void> = [];
afterEach(() => cleanup.splice(0).forEach((dispose) => dispose()));

beforeAll(async () => {
  await useBackend('cpu');
});

function makeTrainer(options: Partial<TrainerOptions> = {}): Trainer {
  const model = makeOpsModel(1, 3);
  const trainer = new Trainer({ diffusion: makeDiffusion(8), model, batchSize: 4, lr: 1e-2, seed: 11, emaRates: [0.9], ...options });
  cleanup.push(() => {
    trainer.dispose();
    model.dispose();
  });
  return trainer;
}

/** [4, 8, 8, 1] 8-bit pixels: every level 0…255 once (37 is coprime to 256), so min 0 and max 255 exactly. */
function pixelBatch(): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: 256 }, (_, i) => (i * 37) % 256), [4, 8, 8, 1]);
}

/** The same pixels scaled as they should be: x/127.5 − 1, min −1 and max 1 exactly. */
function scaledBatch(): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: 256 }, (_, i) => ((i * 37) % 256) / 127.5 - 1), [4, 8, 8, 1]);
}

/** Awaits `body`, returning what it threw (null if nothing). */
async function caught(body: () => Promise<unknown>): Promise<DifflibError | null> {
  return body().then(
    () => null,
    (e: unknown) => {
      expect(e).toBeInstanceOf(DifflibError);
      return e as DifflibError;
    },
  );
}

describe('Trainer expectDataRange', () => {
  test('[0, 255] pixels are refused on the first step, naming min, max, the range and the fix; nothing is updated or leaked', async () => {
    const trainer = makeTrainer({ expectDataRange: [-1, 1] });
    const pixels = pixelBatch();
    const before = stateBytes(trainer);
    const tensors = tf.memory().numTensors;
    let error: DifflibError | null = null;
    const reads = await countReadbacksAsync(async () => {
      error = await caught(() => trainer.step(pixels));
    });
    expect(error).not.toBeNull();
    const e = error as unknown as DifflibError;
    expect(e.message).toBe(
      'Trainer.step: x0 holds values in [0, 255], outside expectDataRange [-1, 1]: 8-bit pixels? Scale them with x / 127.5 - 1 (digitsFromMnist and digitsFromPixels already give [-1, 1]). Nothing was updated',
    );
    expect([e.code, e.functionName, e.argument]).toEqual(['DATA_RANGE', 'Trainer.step', 'x0']);
    expect(reads).toBe(1); // the check rode in the step's own readback
    expect(tf.memory().numTensors).toBe(tensors);
    expect(stateBytes(trainer)).toEqual(before);
    expect(trainer.stepCount).toBe(0);
    pixels.dispose();
  });

  test('[-1, 1] data passes and trains exactly as without the check, at one readback a step', async () => {
    const checked = makeTrainer({ expectDataRange: [-1, 1] });
    const plain = makeTrainer();
    // A refused first batch leaves the checked trainer where the plain one is.
    const pixels = pixelBatch();
    expect((await caught(() => checked.step(pixels)))?.code).toBe('DATA_RANGE');
    const tensors = tf.memory().numTensors;
    for (let s = 0; s < 3; s++) {
      const x0 = s === 0 ? scaledBatch() : randomBatch(4, 40 + s);
      let logs: unknown[] = [];
      const reads = await countReadbacksAsync(async () => {
        logs = [await checked.step(x0), await plain.step(x0)];
      });
      expect(reads).toBe(2);
      expect(logs[0]).toEqual(logs[1]);
      x0.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(stateBytes(checked)).toEqual(stateBytes(plain));
    pixels.dispose();
  });

  test('only the first batch is checked: once one passes, later steps read back nothing more and check nothing', async () => {
    const trainer = makeTrainer({ expectDataRange: [-1, 1] });
    const good = scaledBatch();
    const pixels = pixelBatch();
    expect((await caught(() => trainer.step(pixels)))?.code).toBe('DATA_RANGE'); // checked until a batch passes
    await trainer.step(good);
    // Not checked any more: out-of-range data now trains silently, as with the option off.
    const reads = await countReadbacksAsync(async () => void (await trainer.step(pixels)));
    expect(reads).toBe(1);
    expect(trainer.stepCount).toBe(2);
    tf.dispose([good, pixels]);
  });

  test('with the option off, a step reads back once and [0, 255] data trains silently', async () => {
    const trainer = makeTrainer();
    const pixels = pixelBatch();
    const tensors = tf.memory().numTensors;
    const reads = await countReadbacksAsync(async () => void (await trainer.step(pixels)));
    expect(reads).toBe(1);
    expect(trainer.stepCount).toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
    pixels.dispose();
  });

  test('another range: data outside it gets a general hint', async () => {
    const trainer = makeTrainer({ expectDataRange: [0, 1] });
    const x0 = scaledBatch();
    const e = await caught(() => trainer.step(x0));
    expect(e?.message).toBe('Trainer.step: x0 holds values in [-1, 1], outside expectDataRange [0, 1]: rescale the data to [0, 1]. Nothing was updated');
    x0.dispose();
  });

  test('a trainer built by Trainer.load checks its first batch when asked', async () => {
    const first = makeTrainer();
    const x0 = scaledBatch();
    await first.step(x0);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await first.save(new IOHandlerCheckpointStore(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    })));
    const model = makeOpsModel(1, 8);
    const loaded = await Trainer.load(new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!)), { diffusion: makeDiffusion(8), model, expectDataRange: [-1, 1] });
    cleanup.push(() => {
      loaded.dispose();
      model.dispose();
    });
    const pixels = pixelBatch();
    const e = await caught(() => loaded.step(pixels));
    expect(e?.message).toMatch(/^Trainer\.step: x0 holds values in \[0, 255\], outside expectDataRange \[-1, 1\]/);
    expect(loaded.stepCount).toBe(1);
    tf.dispose([x0, pixels]);
  });

  test('a bad range is refused by name before any tensor is made', () => {
    const model = makeOpsModel();
    cleanup.push(() => model.dispose());
    const before = tf.memory().numTensors;
    for (const range of [[1, -1], [0, 0], [-1], [-1, Number.NaN], '[-1, 1]', { min: -1, max: 1 }]) {
      let error: unknown;
      try {
        new Trainer({ diffusion: makeDiffusion(8), model, batchSize: 4, expectDataRange: range as never });
      } catch (e) {
        error = e;
      }
      expect(error, String(range)).toBeInstanceOf(DifflibError);
      expect([(error as DifflibError).functionName, (error as DifflibError).argument, (error as DifflibError).code]).toEqual(['Trainer', 'options.expectDataRange', 'INVALID_ARGUMENT']);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('checkDataRange', () => {
  test('refuses [0, 255] pixels (float32 or int32) with the numbers seen, at one readback and no leak', async () => {
    const floats = pixelBatch();
    const ints = tf.cast(floats, 'int32');
    for (const x of [floats, ints]) {
      const tensors = tf.memory().numTensors;
      let error: DifflibError | null = null;
      const reads = await countReadbacksAsync(async () => {
        error = await caught(() => checkDataRange(x));
      });
      expect((error as unknown as DifflibError).message).toBe(
        'checkDataRange: x holds values in [0, 255], outside the expected range [-1, 1]: 8-bit pixels? Scale them with x / 127.5 - 1 (digitsFromMnist and digitsFromPixels already give [-1, 1])',
      );
      expect((error as unknown as DifflibError).code).toBe('DATA_RANGE');
      expect(reads).toBe(1);
      expect(tf.memory().numTensors).toBe(tensors);
    }
    tf.dispose([floats, ints]);
  });

  test('passes data in range and returns its exact min and max', async () => {
    const x = randomBatch(4, 7);
    const host = x.dataSync();
    const tensors = tf.memory().numTensors;
    expect(await checkDataRange(x)).toEqual({ min: Math.min(...host), max: Math.max(...host) });
    expect(await checkDataRange(x, [-2, 2])).toEqual({ min: Math.min(...host), max: Math.max(...host) });
    expect(tf.memory().numTensors).toBe(tensors);
    const e = await caught(() => checkDataRange(x, [0, 1]));
    const [lo, hi] = [Math.min(...host), Math.max(...host)].map((v) => Number(v.toPrecision(6)));
    expect(e?.message).toBe(`checkDataRange: x holds values in [${lo}, ${hi}], outside the expected range [0, 1]: rescale the data to [0, 1]`);
    x.dispose();
  });

  test('digitsFromPixels turns 8-bit pixels into data that passes: exactly [-1, 1]', async () => {
    const pixels = Uint8Array.from({ length: 2 * 784 }, (_, i) => (i * 37) % 256);
    const { x } = digitsFromPixels(pixels, [3, 5], { size: 28, maxValue: 255 }).sampleBatch(2, { seed: 0 });
    expect(await checkDataRange(x)).toEqual({ min: -1, max: 1 });
    x.dispose();
  });

  test('NaN is NON_FINITE; bad arguments are refused before any tensor is made', async () => {
    const nan = tf.tensor2d([[0.5, Number.NaN]]);
    expect((await caught(() => checkDataRange(nan)))?.message).toBe('checkDataRange: x holds NaN');
    const empty = tf.zeros([0, 2]);
    const bools = tf.tensor1d([true, false], 'bool');
    const x = randomBatch(1, 1);
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => checkDataRange([1, 2] as never), 'x'],
      [() => checkDataRange(empty), 'x'],
      [() => checkDataRange(bools), 'x'],
      [() => checkDataRange(x, [1, 0]), 'range'],
      [() => checkDataRange(x, [0, Infinity]), 'range'],
    ];
    for (const [body, argument] of cases) {
      const tensors = tf.memory().numTensors;
      const e = await caught(body);
      expect([e?.functionName, e?.argument, e?.code]).toEqual(['checkDataRange', argument, 'INVALID_ARGUMENT']);
      expect(tf.memory().numTensors).toBe(tensors);
    }
    tf.dispose([nan, empty, bools, x]);
  });
});
