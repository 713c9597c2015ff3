/**
 * Checkpoint stores: the Node directory (layout, atomic replacement, failures at each
 * stage leave the previous checkpoint readable) and the tfjs IOHandler path (an
 * in-memory round trip, as IndexedDB would store it).
 */
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { DifflibError, readSafetensors } from '../../src/index';
import { DirectoryCheckpointStore, IOHandlerCheckpointStore, Trainer, type Checkpoint } from '../../src/train';
import { useBackend } from '../backends';
import { makeDiffusion, makeOpsModel, randomBatch, stateBytes, type StateBytes } from './fixtures';

/** Makes the next fs call whose "op path" matches fail, as a full disk or a crash would. */
const injected = vi.hoisted(() => ({ failOn: null as RegExp | null, failures: 0 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const guard = (what: string) => {
    if (injected.failOn?.test(what)) {
      injected.failures++;
      throw Object.assign(new Error(`injected failure: ${what}`), { code: 'EIO' });
    }
  };
  const open: typeof actual.open = async (file, ...rest) => {
    guard(`open ${String(file)}`);
    return actual.open(file, ...rest);
  };
  const rename: typeof actual.rename = async (from, to) => {
    guard(`rename ${String(from)} -> ${String(to)}`);
    return actual.rename(from, to);
  };
  const mocked = { ...actual, open, rename };
  return { ...mocked, default: mocked };
});

const root = mkdtempSync(path.join(tmpdir(), 'difflib-checkpoints-'));
const disposers: Array<() => void> = [];

beforeAll(async () => {
  await useBackend('cpu');
});
afterEach(() => {
  injected.failOn = null;
  disposers.splice(0).forEach((d) => d());
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function makeTrainer(weightSeed = 3): Trainer {
  const model = makeOpsModel(1, weightSeed);
  const trainer = new Trainer({ diffusion: makeDiffusion(8), model, batchSize: 4, lr: 1e-2, seed: 5, emaRates: [0.9999, 0.9], scheduleSampler: 'loss-second-moment' });
  disposers.push(() => {
    trainer.dispose();
    model.dispose();
  });
  return trainer;
}

async function train(trainer: Trainer, steps: number): Promise<void> {
  for (let s = 0; s < steps; s++) {
    const x0 = randomBatch(4, 100 + trainer.stepCount);
    await trainer.step(x0);
    x0.dispose();
  }
}

function expectSameBytes(actual: StateBytes, expected: StateBytes): void {
  expect(actual.step).toBe(expected.step);
  expect(actual.optimizerStep).toBe(expected.optimizerStep);
  const differing = [...expected.tensors].filter(([key, bytes]) => !tf.util.arraysEqual(actual.tensors.get(key)!, bytes)).map(([key]) => key);
  expect(differing).toEqual([]);
}

/** A fresh trainer restored from `source`, as bytes. */
async function restoredBytes(source: string | DirectoryCheckpointStore | IOHandlerCheckpointStore): Promise<StateBytes> {
  const trainer = makeTrainer(77);
  await trainer.restore(source);
  return stateBytes(trainer);
}

describe('DirectoryCheckpointStore', () => {
  test('writes one version directory and a pointer to it; a fresh trainer restores every byte', async () => {
    const dir = path.join(root, 'layout');
    const trainer = makeTrainer();
    await train(trainer, 2);
    await trainer.save(dir); // a plain path means a directory store
    const version = readFileSync(path.join(dir, 'checkpoint'), 'utf8').trim();
    expect(version).toMatch(/^step-00000002-[A-Za-z0-9]+$/);
    expect(readdirSync(dir).sort()).toEqual(['checkpoint', version]);
    expect(readdirSync(path.join(dir, version)).sort()).toEqual(['state.json', 'tensors.safetensors']);

    const { tensors, metadata } = readSafetensors(readFileSync(path.join(dir, version, 'tensors.safetensors')));
    expect(metadata).toEqual({ format: 'difflib-trainer' });
    expect([...tensors.keys()].sort()).toEqual(
      ['bias', 'kernel', 'timeKernel'].flatMap((n) => [`model/${n}`, `ema_0.9999/${n}`, `ema_0.9/${n}`, `optimizer/m/${n}`, `optimizer/v/${n}`]).sort(),
    );
    const state = JSON.parse(readFileSync(path.join(dir, version, 'state.json'), 'utf8'));
    expect(state.step).toBe(2);
    expect(state.version).toBe(2);
    expect(state.samplerState.lossHistory).toHaveLength(8 * 10);

    expectSameBytes(await restoredBytes(dir), stateBytes(trainer));
  });

  test('a new save replaces the old version and clears leftovers of interrupted saves, not other files', async () => {
    const dir = path.join(root, 'replace');
    const trainer = makeTrainer();
    await train(trainer, 1);
    await trainer.save(dir);
    mkdirSync(path.join(dir, '.tmp-step-00000007-abc123'));
    writeFileSync(path.join(dir, 'checkpoint.tmp-xyz789'), 'step-1');
    writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    await train(trainer, 1);
    await trainer.save(dir);
    const version = readFileSync(path.join(dir, 'checkpoint'), 'utf8').trim();
    expect(version).toMatch(/^step-00000002-/);
    expect(readdirSync(dir).sort()).toEqual(['checkpoint', 'notes.txt', version].sort());
    expectSameBytes(await restoredBytes(new DirectoryCheckpointStore(dir)), stateBytes(trainer));
  });

  for (const [stage, failOn] of [
    ['writing the tensors', /^open .*\.tmp-step-.*tensors\.safetensors$/],
    ['renaming the version into place', /^rename .*\.tmp-step-/],
    ['switching the pointer', /^rename .*checkpoint\.tmp-/],
  ] as const) {
    test(`a failure while ${stage} leaves the previous checkpoint intact`, async () => {
      const dir = path.join(root, `fail-${stage.replace(/\W+/g, '-')}`);
      const trainer = makeTrainer();
      await train(trainer, 1);
      await trainer.save(dir);
      const saved = stateBytes(trainer);
      const entries = readdirSync(dir).sort();
      await train(trainer, 2);

      injected.failOn = failOn;
      const failuresBefore = injected.failures;
      await expect(trainer.save(dir)).rejects.toThrow('injected failure');
      expect(injected.failures).toBe(failuresBefore + 1);
      injected.failOn = null;

      expect(readdirSync(dir).sort()).toEqual(entries); // nothing half-written left behind
      expectSameBytes(await restoredBytes(dir), saved);
      // And the trainer can still save once the fault is gone.
      await trainer.save(dir);
      expectSameBytes(await restoredBytes(dir), stateBytes(trainer));
    });
  }

  test('reading a directory without a checkpoint is a DifflibError naming the path', async () => {
    const error = await new DirectoryCheckpointStore(path.join(root, 'absent')).read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DifflibError);
    expect((error as DifflibError).message).toMatch(/^DirectoryCheckpointStore\.read: path ".*absent" holds no checkpoint/);
  });
});

describe('IOHandlerCheckpointStore', () => {
  const checkpoint: Checkpoint = {
    tensors: new Map([
      ['a', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['b/c', { shape: [], data: Float32Array.from([-0.5]) }],
    ]),
    state: { step: 3, nested: { list: [1.1, 2.2e-300] } },
  };

  test('round-trips tensors and state through model artifacts in memory', async () => {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await new IOHandlerCheckpointStore(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    ).write(checkpoint);
    expect(artifacts!.format).toBe('difflib-trainer-checkpoint');
    expect(artifacts!.weightSpecs!.map((s) => [s.name, s.dtype])).toEqual([['a', 'float32'], ['b/c', 'float32']]);
    const read = await new IOHandlerCheckpointStore(tf.io.fromMemory(artifacts!)).read();
    expect(read.state).toEqual(checkpoint.state);
    expect([...read.tensors]).toEqual([...checkpoint.tensors]);
  });

  test('refuses artifacts that are not a checkpoint, and URLs with no handler', async () => {
    const model = tf.io.fromMemory({ modelTopology: { class_name: 'Sequential' }, weightSpecs: [], weightData: new ArrayBuffer(0) });
    const notCheckpoint = await new IOHandlerCheckpointStore(model).read().catch((e: unknown) => e);
    expect((notCheckpoint as DifflibError).message).toMatch(/^IOHandlerCheckpointStore\.read: target \(an? \w+\) does not hold a difflib checkpoint \(format undefined\)$/);
    // No IndexedDB in Node: the URL resolves to no handler.
    const trainer = makeTrainer();
    const noHandler = await trainer.save('indexeddb://run').catch((e: unknown) => e);
    expect(noHandler).toBeInstanceOf(DifflibError);
    expect((noHandler as DifflibError).code).toBe('UNKNOWN_OPTION');
  });
});
