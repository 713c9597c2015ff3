/**
 * Trainer on a small ops model (a 1×1 convolution plus a time embedding; ~15 ms a
 * step on cpu): what one step does (microbatching, clipping, warmup, EMA, logs), its
 * memory and readback contract, bit-identical resume, and bad input.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DifflibError, LossSecondMomentResampler, UniformSampler } from '../../src/index';
import { IOHandlerCheckpointStore, Trainer, logKeyValues, type StepLog, type TrainerOptions } from '../../src/train';
import { stepSeed } from '../../src/train/step-seeds';
import { useBackend } from '../backends';
import { countReadbacksAsync } from '../helpers';
import { constantBatch, expectSameBytes, makeDiffusion, makeOpsModel, randomBatch, stateBytes, type OpsModel } from './fixtures';

const cleanup: Array<() => void> = [];
afterEach(() => cleanup.splice(0).forEach((dispose) => dispose()));

beforeAll(async () => {
  await useBackend('cpu');
});

/** A trainer on a fresh ops model (weights from `weightSeed`), disposed after the test. */
function makeTrainer(options: Partial<TrainerOptions> = {}, weightSeed = 3): { trainer: Trainer; model: OpsModel } {
  const model = makeOpsModel(1, weightSeed);
  const trainer = new Trainer({ diffusion: makeDiffusion(8), model, batchSize: 4, lr: 1e-2, seed: 11, ...options });
  cleanup.push(() => {
    trainer.dispose();
    model.dispose();
  });
  return { trainer, model };
}

/** The batch fed at step s: seeded, so every run sees the same data. */
function batchAt(step: number): tf.Tensor4D {
  return randomBatch(4, 500 + step);
}

async function run(trainer: Trainer, from: number, to: number): Promise<StepLog[]> {
  const logs: StepLog[] = [];
  for (let s = from; s < to; s++) {
    const x0 = batchAt(s);
    logs.push(await trainer.step(x0));
    x0.dispose();
  }
  return logs;
}

/** Rejects with a DifflibError naming fn and argument, having made no tensor. */
async function expectRejection(body: () => Promise<unknown>, fn: string, argument: string, code?: string): Promise<DifflibError> {
  const before = tf.memory().numTensors;
  const error = await body().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DifflibError);
  const e = error as DifflibError;
  expect([e.functionName, e.argument]).toEqual([fn, argument]);
  if (code) expect(e.code).toBe(code);
  expect(tf.memory().numTensors, 'tensors left by the refused call').toBe(before);
  return e;
}

describe('Trainer.step', () => {
  test('the loss falls on a trivially learnable data set (constant images)', async () => {
    const { trainer, model } = makeTrainer({ lr: 3e-2, emaRates: [] });
    const diffusion = trainer.diffusion;
    const x0 = constantBatch(8);
    const noise = tf.randomNormal(x0.shape, 0, 1, 'float32', 99);
    const t = [0, 1, 2, 3, 4, 5, 6, 7];
    const evalLoss = () => tf.tidy(() => tf.mean(diffusion.trainingLosses(model.forward, x0, t, { noise }).loss).dataSync()[0]!);
    const before = evalLoss();
    const batch = constantBatch(4);
    for (let s = 0; s < 40; s++) await trainer.step(batch);
    const after = evalLoss();
    // A fixed evaluation (same t and ε): measured 1.34 → 0.22 on cpu.
    expect(after).toBeLessThan(0.5 * before);
    tf.dispose([x0, noise, batch]);
  });

  test('microbatches of 2 (and an uneven 3 + 1) give the gradient of one batch of 4', async () => {
    const whole = makeTrainer({ microbatch: 4 }).trainer;
    const halves = makeTrainer({ microbatch: 2 }).trainer;
    const uneven = makeTrainer({ microbatch: 3 }).trainer;
    const x0 = batchAt(0);
    const [a, b, c] = [await whole.step(x0), await halves.step(x0), await uneven.step(x0)];
    x0.dispose();
    // After one step m = (1 − β₁)·g: the first moments carry the gradient itself.
    // Only the order of float32 sums differs: relative 1e-5 of the largest entry.
    const g = (trainer: Trainer) => trainer.optimizer.getState().firstMoments.map((m) => Array.from(m.dataSync()));
    const reference = g(whole);
    const scale = Math.max(...reference.flat().map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    for (const other of [g(halves), g(uneven)]) {
      other.flat().forEach((value, i) => expect(Math.abs(value - reference.flat()[i]!)).toBeLessThanOrEqual(1e-5 * scale));
    }
    for (const log of [b, c]) {
      expect(log.gradNorm).toBeCloseTo(a.gradNorm, 5);
      expect(log.loss.mean).toBeCloseTo(a.loss.mean, 6);
    }
  });

  test('the model runs in training mode and sees the labels of its own microbatch', async () => {
    const inner = makeOpsModel();
    const calls: Array<{ batch: number; training: unknown; y: number[] | undefined }> = [];
    const model = {
      forward: (x: tf.Tensor, t: tf.Tensor1D, kwargs?: Record<string, unknown>) => {
        const y = kwargs?.['y'] as tf.Tensor | undefined;
        calls.push({ batch: x.shape[0]!, training: kwargs?.['training'], y: y && Array.from(y.dataSync()) });
        return inner.forward(x, t);
      },
      trainableVariables: inner.trainableVariables,
    };
    const trainer = new Trainer({ diffusion: makeDiffusion(8), model, batchSize: 4, microbatch: 2, seed: 1 });
    cleanup.push(() => {
      trainer.dispose();
      inner.dispose();
    });
    const x0 = batchAt(0);
    const y = tf.tensor1d([5, 6, 7, 8], 'int32');
    await trainer.step(x0, { y });
    expect(calls).toEqual([
      { batch: 2, training: true, y: [5, 6] },
      { batch: 2, training: true, y: [7, 8] },
    ]);
    tf.dispose([x0, y]);
  });

  test('gradient clipping scales the update gradient to gradClipNorm', async () => {
    const free = makeTrainer().trainer;
    const clipped = makeTrainer({ gradClipNorm: 0.01 }).trainer;
    const x0 = batchAt(0);
    const [logFree, logClipped] = [await free.step(x0), await clipped.step(x0)];
    x0.dispose();
    const norm = (trainer: Trainer) => {
      // ‖m‖ / (1 − β₁) = ‖g‖ after the first step.
      const squares = trainer.optimizer.getState().firstMoments.map((m) => tf.tidy(() => tf.sum(tf.square(m)).dataSync()[0]!));
      return Math.sqrt(squares.reduce((s, v) => s + v, 0)) / 0.1;
    };
    expect(logFree.gradNorm).toBeGreaterThan(0.01);
    expect(logFree.clipped).toBe(false);
    expect(norm(free)).toBeCloseTo(logFree.gradNorm, 4);
    expect(logClipped.clipped).toBe(true);
    expect(logClipped.gradNorm).toBeCloseTo(logFree.gradNorm, 6); // logged before clipping
    expect(norm(clipped)).toBeCloseTo(0.01, 6);
  });

  test('warmup scales the learning rate linearly, and the first update by η/W', async () => {
    const { trainer, model } = makeTrainer({ lr: 0.04, warmupSteps: 4, emaRates: [] });
    const before = Object.values(model.trainableVariables).map((v) => Array.from(v.dataSync()));
    const logs = await run(trainer, 0, 6);
    expect(logs.map((l) => l.lr)).toEqual([0.01, 0.02, 0.03, 0.04, 0.04, 0.04]);
    // Adam's first step is −η·g/(|g| + ε) with g = m/(1 − β₁): each entry moves by η/W = 0.01
    // (times |g|/(|g| + ε)). Tolerance 1e-8: float32 rounding of θ ≈ 0.1 and of the step.
    const fresh = makeTrainer({ lr: 0.04, warmupSteps: 4, emaRates: [] });
    const x0 = batchAt(0);
    await fresh.trainer.step(x0);
    x0.dispose();
    const moments = fresh.trainer.optimizer.getState().firstMoments;
    Object.values(fresh.model.trainableVariables).forEach((v, i) => {
      const m = moments[i]!.dataSync();
      Array.from(v.dataSync()).forEach((value, j) => {
        const g = m[j]! / 0.1;
        expect(Math.abs(value - (before[i]![j]! - (0.01 * g) / (Math.abs(g) + 1e-8)))).toBeLessThanOrEqual(1e-8);
      });
    });
  });

  test('each EMA follows rate·θ_ema + (1 − rate)·θ of the updated weights', async () => {
    const { trainer } = makeTrainer({ emaRates: [0.5, 0.9] });
    await run(trainer, 0, 2);
    const previous = trainer.emas.map((ema) => ema.averages.map((a) => Array.from(a.dataSync())));
    await run(trainer, 2, 3);
    trainer.emas.forEach((ema, e) => {
      ema.averages.forEach((average, i) => {
        const theta = trainer.variables[i]!.dataSync();
        Array.from(average.dataSync()).forEach((value, j) => {
          const expected = ema.rate * previous[e]![i]![j]! + (1 - ema.rate) * theta[j]!;
          expect(Math.abs(value - expected)).toBeLessThanOrEqual(1e-6); // float32 rounding of O(1) values
        });
      });
    });
  });

  test('logs loss, mse and vb per quartile of t, counting the examples drawn', async () => {
    const seen: StepLog[] = [];
    const { trainer } = makeTrainer({ batchSize: 8, seed: 5, onStep: (log) => seen.push(log) });
    const x0 = randomBatch(8, 1);
    const log = await trainer.step(x0);
    x0.dispose();
    expect(seen).toEqual([log]);
    // The timesteps this step drew (seeded by (seed, step)): quartile q = ⌊4t/T⌋, T = 8.
    const { indices, timesteps, weights } = new UniformSampler(8).sample(8, { seed: stepSeed(5, 0, 'timesteps') });
    tf.dispose([timesteps, weights]);
    const counts = [0, 0, 0, 0];
    indices.forEach((t) => counts[Math.floor(t / 2)]!++);
    expect(log.quartileCounts).toEqual(counts);
    expect(log.step).toBe(0);
    expect(log.samples).toBe(8);
    const kv = logKeyValues(log);
    const quartileKeys = counts.flatMap((n, q) => (n > 0 ? [`loss_q${q}`, `mse_q${q}`, `vb_q${q}`] : []));
    expect(Object.keys(kv).sort()).toEqual(['grad_norm', 'loss', 'lr', 'mse', 'samples', 'step', 'vb', ...quartileKeys].sort());
    // The quartile means recombine to the batch mean, and loss = mse + vb.
    for (const term of [log.loss, log.mse!, log.vb!]) {
      const total = term.quartiles.reduce<number>((s, m, q) => s + (m ?? 0) * counts[q]!, 0);
      expect(total / 8).toBeCloseTo(term.mean, 6);
    }
    expect(log.loss.mean).toBeCloseTo(log.mse!.mean + log.vb!.mean, 6);
  });

  test('reads back exactly once per step, and the tensor count never grows', async () => {
    const { trainer } = makeTrainer({ scheduleSampler: 'loss-second-moment', microbatch: 2, gradClipNorm: 0.01, warmupSteps: 2 });
    const x0 = batchAt(0);
    const start = tf.memory().numTensors; // moments and EMAs were made by the constructor
    for (let s = 0; s < 25; s++) {
      const reads = await countReadbacksAsync(async () => {
        await trainer.step(x0);
      });
      expect(reads).toBe(1);
      expect(tf.memory().numTensors).toBe(start);
    }
    x0.dispose();
  });

  test('dispose frees every tensor the trainer made (moments, EMAs), after any number of steps', async () => {
    const model = makeOpsModel();
    const before = tf.memory().numTensors;
    const trainer = new Trainer({ diffusion: makeDiffusion(8), model, batchSize: 4, emaRates: [0.9, 0.99], seed: 1 });
    // 3 variables × (m, v, 2 EMAs).
    expect(tf.memory().numTensors - before).toBe(3 * 4);
    await run(trainer, 0, 2);
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('a NaN in the batch throws a DifflibError naming the step, and nothing is updated', async () => {
    const { trainer } = makeTrainer({ scheduleSampler: 'loss-second-moment' });
    await run(trainer, 0, 2);
    const before = stateBytes(trainer);
    const tensors = tf.memory().numTensors;
    const bad = tf.tidy(() => tf.where(tf.equal(tf.reshape(tf.range(0, 4 * 64), [4, 8, 8, 1]), 70), tf.fill([4, 8, 8, 1], Number.NaN), batchAt(2)));
    const error = await trainer.step(bad).then(() => null, (e: unknown) => e);
    bad.dispose();
    expect(error).toBeInstanceOf(DifflibError);
    expect((error as DifflibError).message).toMatch(/^Trainer\.step: x0 gave a non-finite loss .* at step 2/);
    expect((error as DifflibError).code).toBe('NON_FINITE');
    expect(tf.memory().numTensors).toBe(tensors);
    expectSameBytes(stateBytes(trainer), before);
    // The trainer carries on with good data.
    const [log] = await run(trainer, 2, 3);
    expect(log!.step).toBe(2);
  });
});

describe('Trainer checkpoints', () => {
  const options: Partial<TrainerOptions> = {
    scheduleSampler: 'loss-second-moment',
    resampler: { historyPerTerm: 2 },
    emaRates: [0.9, 0.99],
    emaWarmup: true, // still warming up at the resume (decay 11/20 < 0.9 at step 10)
    weightDecay: 0.01,
    warmupSteps: 3,
    gradClipNorm: 0.05,
    microbatch: 2,
  };
  const N = 16;
  const K = 10;

  test('resuming from a checkpoint is bit-identical to never stopping', async () => {
    const uninterrupted = makeTrainer(options).trainer;
    const fullLogs = await run(uninterrupted, 0, N);

    const first = makeTrainer(options).trainer;
    await run(first, 0, K);
    // The importance sampler is warmed up, so its history shapes the steps after the resume.
    expect((first.sampler as LossSecondMomentResampler).warmedUp).toBe(true);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await first.save(new IOHandlerCheckpointStore(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    })));

    // A fresh trainer on a model initialised differently: restore must overwrite everything.
    const resumed = makeTrainer(options, 99).trainer;
    await resumed.restore(new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!)));
    expect(resumed.stepCount).toBe(K);
    const resumedLogs = await run(resumed, K, N);

    expectSameBytes(stateBytes(resumed), stateBytes(uninterrupted));
    expect(resumedLogs).toEqual(fullLogs.slice(K));
  });

  test('Trainer.load rebuilds the hyperparameters from the checkpoint', async () => {
    const first = makeTrainer({ ...options, seed: 1234, lr: 0.02 }).trainer;
    await run(first, 0, 3);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await first.save(new IOHandlerCheckpointStore(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    })));
    const model = makeOpsModel(1, 42);
    const loaded = await Trainer.load(new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!)), { diffusion: makeDiffusion(8), model });
    cleanup.push(() => {
      loaded.dispose();
      model.dispose();
    });
    expect(loaded.hyperparameters).toEqual(first.hyperparameters);
    expectSameBytes(stateBytes(loaded), stateBytes(first));
    await run(first, 3, 5);
    await run(loaded, 3, 5);
    expectSameBytes(stateBytes(loaded), stateBytes(first));
  });

  test('a checkpoint that does not fit is refused and changes nothing', async () => {
    const first = makeTrainer({ emaRates: [0.9] }).trainer;
    await run(first, 0, 1);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await first.save(new IOHandlerCheckpointStore(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    })));
    const other = makeTrainer({ emaRates: [0.99] }).trainer;
    const before = stateBytes(other);
    const e = await expectRejection(() => other.restore(new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!))), 'Trainer.restore', 'checkpoint', 'SHAPE_MISMATCH');
    expect(e.message).toContain('emaRates');
    const warm = makeTrainer({ emaRates: [0.9], emaWarmup: true }).trainer;
    const e1 = await expectRejection(() => warm.restore(new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!))), 'Trainer.restore', 'checkpoint', 'SHAPE_MISMATCH');
    expect(e1.message).toContain('emaWarmup');
    const longer = new Trainer({ diffusion: makeDiffusion(16), model: makeOpsModel(), batchSize: 4, emaRates: [0.9] });
    cleanup.push(() => longer.dispose());
    const e2 = await expectRejection(() => longer.restore(new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!))), 'Trainer.restore', 'checkpoint');
    expect(e2.message).toContain('diffusion.numTimesteps');
    expectSameBytes(stateBytes(other), before);
  });
});

describe('Trainer bad input', () => {
  test('a batch the model cannot take is refused before any tensor is made', async () => {
    const { trainer } = makeTrainer();
    const wrongBatch = randomBatch(3, 1);
    const ints = tf.zeros([4, 8, 8, 1], 'int32');
    const labels = tf.tensor1d([0, 1, 2], 'int32');
    const floatLabels = tf.tensor1d([0, 1, 2, 3], 'float32');
    const x0 = batchAt(0);
    await expectRejection(() => trainer.step(wrongBatch), 'Trainer.step', 'x0', 'SHAPE_MISMATCH');
    await expectRejection(() => trainer.step(ints), 'Trainer.step', 'x0', 'INVALID_ARGUMENT');
    await expectRejection(() => trainer.step([1, 2] as never), 'Trainer.step', 'x0');
    await expectRejection(() => trainer.step(x0, { y: labels }), 'Trainer.step', 'options.y', 'SHAPE_MISMATCH');
    await expectRejection(() => trainer.step(x0, { y: floatLabels }), 'Trainer.step', 'options.y');
    expect(trainer.stepCount).toBe(0);
    tf.dispose([wrongBatch, ints, labels, floatLabels, x0]);
  });

  test('a second step before the first settles, or a step inside EMA.withWeights, is refused', async () => {
    const { trainer } = makeTrainer();
    const x0 = batchAt(0);
    const first = trainer.step(x0);
    await expectRejection(() => trainer.step(x0), 'Trainer.step', 'this', 'UNSATISFIABLE');
    await first;
    await trainer.emas[0]!.withWeights(() => expectRejection(() => trainer.step(x0), 'Trainer.step', 'this', 'UNSATISFIABLE'));
    expect(trainer.stepCount).toBe(1);
    x0.dispose();
  });

  test('bad options are refused by name', () => {
    const diffusion = makeDiffusion(8);
    const model = makeOpsModel();
    cleanup.push(() => model.dispose());
    const base = { diffusion, model, batchSize: 4 };
    const cases: Array<[Partial<TrainerOptions>, string]> = [
      [{ microbatch: 5 }, 'options.microbatch'],
      [{ batchSize: 0 }, 'options.batchSize'],
      [{ emaRates: [1] }, 'options.emaRates'],
      [{ emaWarmup: 1 as never }, 'options.emaWarmup'],
      [{ scheduleSampler: 'importance' as never }, 'options.scheduleSampler'],
      [{ gradClipNorm: 0 }, 'options.gradClipNorm'],
      [{ seed: -1 }, 'options.seed'],
      [{ diffusion: {} as never }, 'options.diffusion'],
      [{ model: { forward: 1 } as never }, 'options.model'],
      [{ model: { forward: model.forward, trainableVariables: [] } }, 'options.model.trainableVariables'],
    ];
    const before = tf.memory().numTensors;
    for (const [bad, argument] of cases) {
      let caught: unknown;
      try {
        new Trainer({ ...base, ...bad } as TrainerOptions);
      } catch (e) {
        caught = e;
      }
      expect(caught, argument).toBeInstanceOf(DifflibError);
      expect((caught as DifflibError).argument).toBe(argument);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
