/**
 * The open Trainer (issue 14) on a small ops model (cpu): a timestep sampler object
 * with an update hook and a checkpointed state, a model of one's own with input
 * checks, labelKey, minSnrGamma and label dropout (seeded, reproducible, resumable,
 * on the device), their refusals, and version-1 checkpoints written before any of it.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DifflibError, GaussianDiffusion, LossSecondMomentResampler, UniformSampler, namedBetaSchedule, type TimestepSampler } from '../../src/index';
import { seededUniform } from '../../src/random';
import { standardNormal } from '../../src/random-normal';
import { IOHandlerCheckpointStore, Trainer, type Checkpoint, type CheckpointStore, type StepLog, type TrainableModel, type TrainerOptions } from '../../src/train';
import { stepSeed } from '../../src/train/step-seeds';
import { useBackend } from '../backends';
import { countReadbacksAsync, expectDifflibError } from '../helpers';
import { expectSameBytes, makeDiffusion, makeOpsModel, randomBatch, stateBytes, type OpsModel } from './fixtures';

const B = 8;
const T = 8;
const cleanup: Array<() => void> = [];
afterEach(() => cleanup.splice(0).forEach((dispose) => dispose()));

beforeAll(async () => {
  await useBackend('cpu');
});

/** The ops model plus a label embedding [K + 1, 2] added to its output, so labels (and dropping them) move the loss. */
interface LabelModel extends TrainableModel {
  trainableVariables: Record<string, tf.Variable>;
  /** The labels the model saw, per call (read back by the test, after the fact). */
  seen: number[][];
  /** Record the labels seen (a readback per call: off for the readback counts). */
  record: boolean;
}

function makeLabelModel(labelKey = 'y', numClasses = 4, weightSeed = 3): LabelModel {
  const inner = makeOpsModel(1, weightSeed);
  const labelEmbedding = tf.variable(tf.randomNormal([numClasses + 1, 2], 0, 0.1, 'float32', weightSeed * 100 + 9));
  const model: LabelModel = {
    seen: [],
    record: true,
    trainableVariables: { ...inner.trainableVariables, labelEmbedding },
    forward: (x, t, kwargs) => {
      const labels = kwargs?.[labelKey] as tf.Tensor1D | undefined;
      if (model.record) model.seen.push(labels ? Array.from(labels.dataSync()) : []);
      const out = inner.forward(x, t);
      if (!labels) return out;
      return tf.tidy(() => tf.add(out, tf.reshape(tf.gather(labelEmbedding, labels), [x.shape[0]!, 1, 1, 2])));
    },
  };
  cleanup.push(() => {
    inner.dispose();
    labelEmbedding.dispose();
  });
  return model;
}

/** Uniform draws, recording every sample call's seed and every update. */
function recordingSampler(numTimesteps = T): TimestepSampler & { seeds: Array<number | undefined>; updates: Array<{ timesteps: number[]; losses: number[]; stepCount: number }>; trainer?: Trainer } {
  const uniform = new UniformSampler(numTimesteps);
  const sampler = {
    numTimesteps,
    seeds: [] as Array<number | undefined>,
    updates: [] as Array<{ timesteps: number[]; losses: number[]; stepCount: number }>,
    trainer: undefined as Trainer | undefined,
    sample(batchSize: number, options?: { seed?: number }) {
      sampler.seeds.push(options?.seed);
      return uniform.sample(batchSize, options);
    },
    update(timesteps: ArrayLike<number>, losses: ArrayLike<number>) {
      sampler.updates.push({ timesteps: Array.from(timesteps), losses: Array.from(losses), stepCount: sampler.trainer?.stepCount ?? -1 });
    },
  };
  return sampler;
}

function makeTrainer(options: Partial<TrainerOptions> = {}): Trainer {
  const model = options.model ?? makeOpsModel();
  const trainer = new Trainer({ diffusion: makeDiffusion(T), model, batchSize: B, lr: 1e-2, seed: 11, ...options });
  cleanup.push(() => {
    trainer.dispose();
    if (!options.model) (model as OpsModel).dispose();
  });
  return trainer;
}

const LABELS = [0, 1, 2, 3, 0, 1, 2, 3];

async function run(trainer: Trainer, from: number, to: number, labelKey: string | null = null): Promise<StepLog[]> {
  const logs: StepLog[] = [];
  for (let s = from; s < to; s++) {
    const x0 = randomBatch(B, 900 + s);
    const labels = tf.tensor1d(LABELS, 'int32');
    logs.push(await trainer.step(x0, labelKey ? { [labelKey]: labels } : {}));
    tf.dispose([x0, labels]);
  }
  return logs;
}

/** An in-memory checkpoint store. */
function memoryStore(): CheckpointStore {
  let saved: Checkpoint | null = null;
  return {
    write: async (c) => void (saved = c),
    read: async () => saved!,
  };
}

/** The losses trainingLosses gives for a step's draws (with the trainer's seeded ε), on the current weights. */
function referenceLosses(trainer: Trainer, forward: TrainableModel['forward'], step: number, timesteps: number[], minSnrGamma?: number): number[] {
  const x0 = randomBatch(B, 900 + step);
  const noise = standardNormal(x0.shape, stepSeed(trainer.hyperparameters.seed, step, 'noise'));
  const losses = tf.tidy(() =>
    Array.from(trainer.diffusion.trainingLosses(forward, x0, timesteps, { noise, modelKwargs: { training: true }, ...(minSnrGamma ? { minSnrGamma } : {}) }).loss.dataSync()),
  );
  tf.dispose([x0, noise]);
  return losses;
}

async function expectStepRefusal(body: () => Promise<unknown>, argument: string, code?: string): Promise<DifflibError> {
  const before = tf.memory().numTensors;
  const caught = await body().then(
    () => null,
    (e: unknown) => e,
  );
  expect(caught, argument).toBeInstanceOf(DifflibError);
  const e = caught as DifflibError;
  expect([e.functionName, e.argument], e.message).toEqual(['Trainer.step', argument]);
  if (code) expect(e.code).toBe(code);
  expect(tf.memory().numTensors, `tensors left by refusing ${argument}`).toBe(before);
  return e;
}

describe('a timestep sampler object', () => {
  test("its update hook gets each step's timesteps and per-example losses, after the update", async () => {
    const sampler = recordingSampler();
    const model = makeOpsModel();
    cleanup.push(() => model.dispose());
    const trainer = makeTrainer({ scheduleSampler: sampler, model, lr: 0 }); // lr 0: the weights stay those the reference sees
    sampler.trainer = trainer;
    const logs = await run(trainer, 0, 3);
    expect(trainer.sampler).toBe(sampler);
    expect(trainer.hyperparameters.scheduleSampler).toBe('custom');
    expect(sampler.seeds).toEqual([0, 1, 2].map((s) => stepSeed(11, s, 'timesteps')));
    expect(sampler.updates.map((u) => u.stepCount)).toEqual([1, 2, 3]); // called once the step is counted
    sampler.updates.forEach(({ timesteps, losses }, s) => {
      const { indices, timesteps: t, weights } = new UniformSampler(T).sample(B, { seed: stepSeed(11, s, 'timesteps') });
      tf.dispose([t, weights]);
      expect(timesteps).toEqual(Array.from(indices));
      // The same ops on the same inputs: equal to float32 rounding of O(1) losses.
      referenceLosses(trainer, model.forward, s, timesteps).forEach((v, i) => expect(Math.abs(losses[i]! - v)).toBeLessThanOrEqual(1e-6));
      expect(losses.reduce((a, b) => a + b, 0) / B).toBeCloseTo(logs[s]!.loss.mean, 6);
    });
  });

  test("a LossSecondMomentResampler passed as an object trains exactly as the name 'loss-second-moment'", async () => {
    const byName = makeTrainer({ scheduleSampler: 'loss-second-moment', resampler: { historyPerTerm: 1 } });
    const object = new LossSecondMomentResampler(T, { historyPerTerm: 1 });
    const byObject = makeTrainer({ scheduleSampler: object });
    const [a, b] = [await run(byName, 0, 6), await run(byObject, 0, 6)];
    expect(object.warmedUp).toBe(true); // the importance weights shaped the later steps
    expect(b).toEqual(a);
    expectSameBytes(stateBytes(byObject), stateBytes(byName));
    expect(object.state()).toEqual((byName.sampler as LossSecondMomentResampler).state());
  });

  test('a stateful sampler object: its state goes into the checkpoint, loadState gets it back, and the resume is bit-identical', async () => {
    const options = { emaRates: [0.9], microbatch: 4 };
    const uninterrupted = makeTrainer({ ...options, scheduleSampler: new LossSecondMomentResampler(T, { historyPerTerm: 2 }) });
    const full = await run(uninterrupted, 0, 8);

    const first = makeTrainer({ ...options, scheduleSampler: new LossSecondMomentResampler(T, { historyPerTerm: 2 }) });
    await run(first, 0, 5);
    const store = memoryStore();
    await first.save(store);
    const saved = await store.read();
    expect(saved.state['samplerState']).toEqual((first.sampler as LossSecondMomentResampler).state());
    expect((saved.state['hyperparameters'] as Record<string, unknown>)['scheduleSampler']).toBe('custom');

    // Trainer.load needs the object again: "custom" names it only.
    const model = makeOpsModel(1, 99);
    cleanup.push(() => model.dispose());
    const tensors = tf.memory().numTensors;
    const refused = await Trainer.load(store, { diffusion: makeDiffusion(T), model }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DifflibError);
    expect((refused as DifflibError).message).toMatch(/^Trainer\.load: options\.scheduleSampler is "custom": .*pass the object/);
    expect(tf.memory().numTensors).toBe(tensors);

    const fresh = new LossSecondMomentResampler(T, { historyPerTerm: 2 });
    const resumed = await Trainer.load(store, { diffusion: makeDiffusion(T), model, scheduleSampler: fresh });
    cleanup.push(() => resumed.dispose());
    expect(resumed.sampler).toBe(fresh);
    expect(fresh.state()).toEqual((first.sampler as LossSecondMomentResampler).state());
    expect(await run(resumed, 5, 8)).toEqual(full.slice(5));
    expectSameBytes(stateBytes(resumed), stateBytes(uninterrupted));
  });

  test('a checkpoint with a sampler state is refused by a trainer whose sampler has no loadState, changing nothing', async () => {
    const first = makeTrainer({ scheduleSampler: new LossSecondMomentResampler(T) });
    await run(first, 0, 1);
    const store = memoryStore();
    await first.save(store);
    const other = makeTrainer({ scheduleSampler: recordingSampler() });
    const before = stateBytes(other);
    const tensors = tf.memory().numTensors;
    const error = await other.restore(store).catch((e: unknown) => e);
    expect((error as DifflibError).message).toMatch(/^Trainer\.restore: checkpoint does not fit this trainer: it holds a timestep sampler state but this trainer's sampler has no loadState$/);
    expect(tf.memory().numTensors).toBe(tensors);
    expectSameBytes(stateBytes(other), before);
  });

  test('a sampler that draws something unusable is refused at the step, leaking nothing and changing nothing', async () => {
    const uniform = new UniformSampler(T);
    const bad: TimestepSampler = {
      numTimesteps: T,
      sample: (batchSize, options) => {
        const sample = uniform.sample(batchSize, options);
        sample.indices[3] = T; // out of [0, T)
        return sample;
      },
    };
    const trainer = makeTrainer({ scheduleSampler: bad });
    const x0 = randomBatch(B, 1);
    const e = await expectStepRefusal(() => trainer.step(x0), 'scheduleSampler', 'INVALID_ARGUMENT');
    expect(e.message).toContain(`indices [`);
    expect(e.message).toContain(`not an Int32Array of ${B} timesteps in [0, ${T})`);
    expect(trainer.stepCount).toBe(0);
    x0.dispose();
  });
});

describe('a model of your own', () => {
  test('opts into input checks: checkInput sees the batch and the labels before any tensor is made', async () => {
    const model = makeLabelModel();
    const calls: Array<{ fn: string; shape: number[]; keys: string[] }> = [];
    const checked: TrainableModel = {
      ...model,
      numClasses: 5,
      checkInput(fn, x0, kwargs) {
        calls.push({ fn, shape: [...x0.shape], keys: Object.keys(kwargs) });
        if (x0.shape[1] !== 8) throw new DifflibError('SHAPE_MISMATCH', fn, 'x0', `must be 8 pixels high, got ${x0.shape[1]}`);
        if (kwargs['y'] === undefined) throw new DifflibError('INVALID_ARGUMENT', fn, 'options.y', 'is required: the model is class-conditional');
      },
    };
    const trainer = makeTrainer({ model: checked });
    const tall = randomBatch(B, 1, 16);
    const x0 = randomBatch(B, 1);
    const labels = tf.tensor1d(LABELS, 'int32');
    await expectStepRefusal(() => trainer.step(tall, { y: labels }), 'x0', 'SHAPE_MISMATCH');
    await expectStepRefusal(() => trainer.step(x0), 'options.y', 'INVALID_ARGUMENT');
    const log = await trainer.step(x0, { y: labels });
    expect(Number.isFinite(log.loss.mean)).toBe(true);
    expect(calls).toEqual([
      { fn: 'Trainer.step', shape: [B, 16, 16, 1], keys: ['y'] },
      { fn: 'Trainer.step', shape: [B, 8, 8, 1], keys: [] },
      { fn: 'Trainer.step', shape: [B, 8, 8, 1], keys: ['y'] },
    ]);
    // numClasses: a null label the model does not embed is refused at construction.
    expectDifflibError(() => makeTrainer({ model: checked, labelDropout: { probability: 0.1, nullLabel: 5 } }), 'Trainer', 'options.labelDropout.nullLabel', 'INVALID_ARGUMENT');
    tf.dispose([tall, x0, labels]);
  });

  test('bad checkInput or numClasses members are refused by name', () => {
    const model = makeOpsModel();
    cleanup.push(() => model.dispose());
    expectDifflibError(() => makeTrainer({ model: { ...model, checkInput: 'yes' as never } }), 'Trainer', 'options.model.checkInput');
    expectDifflibError(() => makeTrainer({ model: { ...model, numClasses: 0 } }), 'Trainer', 'options.model.numClasses');
    expectDifflibError(() => makeTrainer({ model: { ...model, numClasses: 2.5 } }), 'Trainer', 'options.model.numClasses');
  });
});

describe('labelKey', () => {
  test('the labels go to the model under labelKey, taken from the step options under the same key', async () => {
    const model = makeLabelModel('class_labels');
    const trainer = makeTrainer({ model, labelKey: 'class_labels', microbatch: 4 });
    await run(trainer, 0, 1, 'class_labels');
    expect(model.seen).toEqual([LABELS.slice(0, 4), LABELS.slice(4)]);
    expect(trainer.hyperparameters.labelKey).toBe('class_labels');
    const x0 = randomBatch(B, 1);
    const labels = tf.tensor1d(LABELS, 'int32');
    const e = await expectStepRefusal(() => trainer.step(x0, { y: labels }), 'options.y', 'INVALID_ARGUMENT');
    expect(e.message).toContain('under labelKey "class_labels"');
    tf.dispose([x0, labels]);
  });
});

describe('minSnrGamma', () => {
  test("the step's losses are trainingLosses with minSnrGamma, and differ from the unweighted ones", async () => {
    const sampler = recordingSampler();
    const model = makeOpsModel();
    cleanup.push(() => model.dispose());
    const trainer = makeTrainer({ scheduleSampler: sampler, model, lr: 0, minSnrGamma: 5 });
    await run(trainer, 0, 2);
    expect(trainer.hyperparameters.minSnrGamma).toBe(5);
    let differs = 0;
    sampler.updates.forEach(({ timesteps, losses }, s) => {
      const weighted = referenceLosses(trainer, model.forward, s, timesteps, 5);
      weighted.forEach((v, i) => expect(Math.abs(losses[i]! - v)).toBeLessThanOrEqual(1e-6));
      const plain = referenceLosses(trainer, model.forward, s, timesteps);
      differs += plain.filter((v, i) => Math.abs(v - weighted[i]!) > 1e-3).length;
    });
    // At T = 8 (cosine) SNR_t > 5 for the early steps, whose mse γ/SNR_t scales down.
    expect(differs).toBeGreaterThan(0);
  });
});

describe('label dropout', () => {
  /** Which labels of step `step` the rule drops: u_i < p, u the uniform draws from the step's 'labels' seed. */
  const dropped = (seed: number, step: number, p: number) => {
    const random = seededUniform(stepSeed(seed, step, 'labels'));
    return Array.from({ length: B }, () => random() < p);
  };

  test('replaces exactly the labels its seeded draw picks by the null label: the same in every run and every microbatch split', async () => {
    const whole = makeLabelModel();
    const split = makeLabelModel();
    const dropout = { probability: 0.5, nullLabel: 4 };
    await run(makeTrainer({ model: whole, labelDropout: dropout }), 0, 5, 'y');
    await run(makeTrainer({ model: split, labelDropout: dropout, microbatch: 3 }), 0, 5, 'y');
    const expected = [0, 1, 2, 3, 4].map((s) => dropped(11, s, 0.5).map((drop, i) => (drop ? 4 : LABELS[i]!)));
    expect(whole.seen).toEqual(expected);
    expect(split.seen.map((labels, call) => ({ call, labels }))).toEqual(
      expected.flatMap((labels, s) => [labels.slice(0, 3), labels.slice(3, 6), labels.slice(6)].map((part, k) => ({ call: 3 * s + k, labels: part }))),
    );
    // Seed 11, steps 0–4, B = 8, p = 0.5: the counts this seed gives.
    expect(whole.seen.map((labels) => labels.filter((l) => l === 4).length)).toEqual([5, 5, 4, 4, 4]);
  });

  test('p = 0 keeps every label and p = 1 drops every one', async () => {
    const keep = makeLabelModel();
    const drop = makeLabelModel();
    await run(makeTrainer({ model: keep, labelDropout: { probability: 0, nullLabel: 4 } }), 0, 3, 'y');
    await run(makeTrainer({ model: drop, labelDropout: { probability: 1, nullLabel: 4 } }), 0, 3, 'y');
    expect(keep.seen).toEqual([LABELS, LABELS, LABELS]);
    expect(drop.seen).toEqual([0, 1, 2].map(() => LABELS.map(() => 4)));
  });

  test('over 200 steps drops a fraction p = 0.25 of the labels (within 4.5 standard deviations), and only those', async () => {
    const model = makeLabelModel();
    const trainer = makeTrainer({ model, labelDropout: { probability: 0.25, nullLabel: 4 }, emaRates: [], seed: 2024 });
    await run(trainer, 0, 200, 'y');
    const all = model.seen.flat();
    const n = all.length;
    const count = all.filter((l) => l === 4).length;
    expect(n).toBe(200 * B);
    expect(Math.abs(count - 0.25 * n)).toBeLessThanOrEqual(4.5 * Math.sqrt(n * 0.25 * 0.75));
    // Every label kept is the one given at its position.
    model.seen.forEach((labels) => labels.forEach((l, i) => expect([4, LABELS[i]]).toContain(l)));
    // The draws of different steps differ (not one mask reused).
    expect(new Set(model.seen.map((labels) => labels.join())).size).toBeGreaterThan(50);
  });

  test('with minSnrGamma and a sampler object: one readback per step and no tensor left behind', async () => {
    const model = makeLabelModel();
    model.record = false;
    const trainer = makeTrainer({ model, labelDropout: { probability: 0.3, nullLabel: 4 }, minSnrGamma: 5, scheduleSampler: recordingSampler(), microbatch: 3 });
    const x0 = randomBatch(B, 1);
    const labels = tf.tensor1d(LABELS, 'int32');
    const start = tf.memory().numTensors;
    for (let s = 0; s < 10; s++) {
      expect(await countReadbacksAsync(async () => void (await trainer.step(x0, { y: labels })))).toBe(1);
      expect(tf.memory().numTensors).toBe(start);
    }
    // The caller's labels are untouched.
    expect(Array.from(labels.dataSync())).toEqual(LABELS);
    tf.dispose([x0, labels]);
  });

  test('a resumed run drops the same labels and ends bit-identical; Trainer.load takes the options from the checkpoint', async () => {
    const options = (model: LabelModel): Partial<TrainerOptions> => ({ model, labelDropout: { probability: 0.3, nullLabel: 4 }, minSnrGamma: 2, labelKey: 'c', emaRates: [0.9] });
    const uninterrupted = makeTrainer(options(makeLabelModel('c')));
    const full = await run(uninterrupted, 0, 8, 'c');

    const first = makeTrainer(options(makeLabelModel('c')));
    await run(first, 0, 4, 'c');
    const store = memoryStore();
    await first.save(store);
    const model = makeLabelModel('c', 4, 77);
    const resumed = await Trainer.load(store, { diffusion: makeDiffusion(T), model });
    cleanup.push(() => resumed.dispose());
    expect(resumed.hyperparameters).toEqual(first.hyperparameters);
    expect(resumed.hyperparameters.labelDropout).toEqual({ probability: 0.3, nullLabel: 4 });
    expect(await run(resumed, 4, 8, 'c')).toEqual(full.slice(4));
    expectSameBytes(stateBytes(resumed), stateBytes(uninterrupted));
    expect(model.seen).toEqual([4, 5, 6, 7].map((s) => dropped(11, s, 0.3).map((drop, i) => (drop ? 4 : LABELS[i]!))));
  });

  test('a step without labels is refused before any tensor is made', async () => {
    const trainer = makeTrainer({ model: makeLabelModel(), labelDropout: { probability: 0.1, nullLabel: 4 } });
    const x0 = randomBatch(B, 1);
    const e = await expectStepRefusal(() => trainer.step(x0), 'options.y', 'INVALID_ARGUMENT');
    expect(e.message).toBe('Trainer.step: options.y is required: labelDropout replaces a fraction p = 0.1 of the labels by the null label 4');
    x0.dispose();
  });
});

describe('bad option values are refused with a DifflibError before any tensor is made', () => {
  test('labelKey, minSnrGamma, labelDropout and scheduleSampler', () => {
    const model = makeOpsModel();
    cleanup.push(() => model.dispose());
    const base = { diffusion: makeDiffusion(T), model, batchSize: B };
    const uniform = new UniformSampler(T);
    const sample = (batchSize: number) => uniform.sample(batchSize);
    const cases: Array<[Record<string, unknown>, string, string?]> = [
      [{ labelKey: '' }, 'options.labelKey'],
      [{ labelKey: 'training' }, 'options.labelKey'],
      [{ labelKey: 5 }, 'options.labelKey'],
      [{ minSnrGamma: 0 }, 'options.minSnrGamma'],
      [{ minSnrGamma: -5 }, 'options.minSnrGamma'],
      [{ minSnrGamma: Number.NaN }, 'options.minSnrGamma'],
      [{ minSnrGamma: Infinity }, 'options.minSnrGamma'],
      [{ minSnrGamma: '5' }, 'options.minSnrGamma'],
      [{ labelDropout: 0.1 }, 'options.labelDropout'],
      [{ labelDropout: { probability: 1.5, nullLabel: 4 } }, 'options.labelDropout.probability'],
      [{ labelDropout: { probability: -0.1, nullLabel: 4 } }, 'options.labelDropout.probability'],
      [{ labelDropout: { probability: Number.NaN, nullLabel: 4 } }, 'options.labelDropout.probability'],
      [{ labelDropout: { nullLabel: 4 } }, 'options.labelDropout.probability'],
      [{ labelDropout: { probability: 0.1 } }, 'options.labelDropout.nullLabel'],
      [{ labelDropout: { probability: 0.1, nullLabel: -1 } }, 'options.labelDropout.nullLabel'],
      [{ labelDropout: { probability: 0.1, nullLabel: 1.5 } }, 'options.labelDropout.nullLabel'],
      [{ labelDropout: { probability: 0.1, nullLabel: 2 ** 31 } }, 'options.labelDropout.nullLabel'],
      [{ scheduleSampler: {} }, 'options.scheduleSampler'],
      [{ scheduleSampler: 'custom' }, 'options.scheduleSampler'],
      [{ scheduleSampler: { sample } }, 'options.scheduleSampler.numTimesteps'],
      [{ scheduleSampler: { sample, numTimesteps: 16 } }, 'options.scheduleSampler.numTimesteps', 'SHAPE_MISMATCH'],
      [{ scheduleSampler: { sample, numTimesteps: T, update: 3 } }, 'options.scheduleSampler.update'],
      [{ scheduleSampler: { sample, numTimesteps: T, state: () => 1 } }, 'options.scheduleSampler'],
    ];
    for (const [bad, argument, code] of cases) {
      expectDifflibError(() => new Trainer({ ...base, ...bad } as TrainerOptions), 'Trainer', argument, code);
    }
    // Min-SNR-γ weights a prediction of ε, x_0 or v, not of x_{t−1}.
    const previousX = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', T), modelMeanType: 'previous_x', modelVarType: 'fixed_small', lossType: 'mse' });
    const e = expectDifflibError(() => new Trainer({ ...base, diffusion: previousX, minSnrGamma: 5 }), 'Trainer', 'options.minSnrGamma');
    expect(e.message).toContain("'previous_x'");
  });
});

describe('version-1 checkpoints (written before the open Trainer)', () => {
  const fixture = (name: string) => fileURLToPath(new URL(`checkpoints/${name}`, import.meta.url));

  test('load with defaults for the new options and resume to the bytes the old Trainer reached', async () => {
    // Written by the Trainer of commit dc1dded: ops model, loss-second-moment (historyPerTerm 1),
    // batches randomBatch(4, 700 + step); saved after steps 6 and 9 of one run.
    const load = async (name: string, weightSeed: number) => {
      const model = makeOpsModel(1, weightSeed);
      const trainer = await Trainer.load(fixture(name), { diffusion: makeDiffusion(T), model });
      cleanup.push(() => {
        trainer.dispose();
        model.dispose();
      });
      return trainer;
    };
    const resumed = await load('v1-step6', 1);
    expect(resumed.stepCount).toBe(6);
    expect(resumed.hyperparameters).toMatchObject({ scheduleSampler: 'loss-second-moment', labelKey: 'y', minSnrGamma: null, labelDropout: null, seed: 77 });
    for (let s = 6; s < 9; s++) {
      const x0 = randomBatch(4, 700 + s);
      await resumed.step(x0);
      x0.dispose();
    }
    const reference = await load('v1-step9', 2);
    expectSameBytes(stateBytes(resumed), stateBytes(reference));
    expect((resumed.sampler as LossSecondMomentResampler).state()).toEqual((reference.sampler as LossSecondMomentResampler).state());
  });
});
