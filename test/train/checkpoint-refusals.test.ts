/**
 * Refused checkpoints: every way `Trainer.load` and `trainer.restore` can refuse one
 * (a damaged file in a checkpoint directory, damaged IO-handler artifacts, a state
 * with wrong-typed fields, a checkpoint that does not fit) throws a DifflibError that
 * names where the checkpoint came from and what is wrong, leaks no tensor, and
 * leaves the model and trainer as they were: they still train as if nothing happened.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DifflibError, GaussianDiffusion, namedBetaSchedule } from '../../src/index';
import { DirectoryCheckpointStore, IOHandlerCheckpointStore, Trainer, type Checkpoint, type CheckpointStore, type TrainerOptions } from '../../src/train';
import { useBackend } from '../backends';
import { expectSameBytes, makeDiffusion, makeOpsModel, randomBatch, stateBytes, type OpsModel } from './fixtures';

const root = mkdtempSync(path.join(tmpdir(), 'difflib-refusals-'));
/** A checkpoint of `makeTrainer()` after two steps; copied, never changed. */
const pristine = path.join(root, 'pristine');
let pristineVersion = '';
let artifacts: tf.io.ModelArtifacts;
const cleanup: Array<() => void> = [];

const HYPERPARAMETERS: Partial<TrainerOptions> & { batchSize: number } = { batchSize: 4, lr: 1e-2, seed: 5, emaRates: [0.9], scheduleSampler: 'loss-second-moment' };

function makeTrainer(weightSeed = 3, options: Partial<TrainerOptions> = {}): { trainer: Trainer; model: OpsModel } {
  const model = makeOpsModel(1, weightSeed);
  const trainer = new Trainer({ diffusion: makeDiffusion(8), model, ...HYPERPARAMETERS, ...options });
  cleanup.push(() => {
    trainer.dispose();
    model.dispose();
  });
  return { trainer, model };
}

async function train(trainer: Trainer, steps: number): Promise<Array<Awaited<ReturnType<Trainer['step']>>>> {
  const logs = [];
  for (let s = 0; s < steps; s++) {
    const x0 = randomBatch(4, 100 + trainer.stepCount);
    logs.push(await trainer.step(x0));
    x0.dispose();
  }
  return logs;
}

/** Every byte of a model's variables. */
function modelBytes(model: OpsModel): Uint8Array[] {
  return Object.values(model.trainableVariables).map((v) => new Uint8Array((v.dataSync() as Float32Array).slice().buffer));
}

/** A copy of the pristine checkpoint directory, with `damage(versionDir)` applied. */
function damagedCopy(name: string, damage: (versionDir: string, dir: string) => void): string {
  const dir = path.join(root, name.replace(/\W+/g, '-'));
  cpSync(pristine, dir, { recursive: true });
  damage(path.join(dir, pristineVersion), dir);
  return dir;
}

/** A store handing out the pristine checkpoint (read through the directory store) after `edit`. */
function editedStore(edit: (checkpoint: Checkpoint) => void): CheckpointStore {
  return {
    write: () => Promise.reject(new Error('read-only')),
    read: async () => {
      const checkpoint = await new DirectoryCheckpointStore(pristine).read();
      edit(checkpoint);
      return checkpoint;
    },
  };
}

/** Rewrites state.json of a version directory. */
function editState(versionDir: string, edit: (state: Record<string, any>) => void): void {
  const file = path.join(versionDir, 'state.json');
  const state = JSON.parse(readFileSync(file, 'utf8'));
  edit(state);
  writeFileSync(file, JSON.stringify(state));
}

/**
 * Refuses `source` through Trainer.load (on a fresh model) and trainer.restore (on a
 * trained trainer): each throws a DifflibError matching `message`, makes no tensor,
 * and changes nothing; both the model and the trainer then train on exactly as an
 * untouched twin does.
 */
async function expectRefused(source: string | CheckpointStore, fn: RegExp | string, message: RegExp, code?: string): Promise<void> {
  const expectError = (e: unknown, method: string) => {
    expect(e, method).toBeInstanceOf(DifflibError);
    const error = e as DifflibError;
    expect(error.functionName).toMatch(typeof fn === 'string' ? fn.replace('*', method) : fn);
    expect(error.message).toMatch(message);
    if (code) expect(error.code).toBe(code);
  };

  const model = makeOpsModel(1, 42);
  const modelBefore = modelBytes(model);
  let tensors = tf.memory().numTensors;
  const loadError = await Trainer.load(source, { diffusion: makeDiffusion(8), model }).then(
    (t) => (t.dispose(), null),
    (e: unknown) => e,
  );
  expectError(loadError, 'load');
  expect(tf.memory().numTensors, 'tensors left by the refused Trainer.load').toBe(tensors);
  expect(modelBytes(model)).toEqual(modelBefore);
  model.dispose();

  const { trainer } = makeTrainer(9);
  const twin = makeTrainer(9).trainer;
  await train(trainer, 1);
  await train(twin, 1);
  const before = stateBytes(trainer);
  tensors = tf.memory().numTensors;
  const restoreError = await trainer.restore(source).then(
    () => null,
    (e: unknown) => e,
  );
  expectError(restoreError, 'restore');
  expect(tf.memory().numTensors, 'tensors left by the refused trainer.restore').toBe(tensors);
  expectSameBytes(stateBytes(trainer), before);
  expect(await train(trainer, 2)).toEqual(await train(twin, 2));
  expectSameBytes(stateBytes(trainer), stateBytes(twin));
}

beforeAll(async () => {
  await useBackend('cpu');
  const { trainer } = makeTrainer();
  await train(trainer, 2);
  await trainer.save(pristine);
  pristineVersion = readdirSync(pristine).find((name) => name.startsWith('step-'))!;
  await trainer.save(
    new IOHandlerCheckpointStore(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    ),
  );
  cleanup.splice(0).forEach((dispose) => dispose());
});
afterEach(() => cleanup.splice(0).forEach((dispose) => dispose()));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a damaged checkpoint directory names the directory, the file and what is wrong', () => {
  // The last field is a regular expression (byte counts depend on the file's layout).
  const cases: Array<[string, (versionDir: string, dir: string) => void, string, string]> = [
    ['state.json truncated', (v) => writeFileSync(path.join(v, 'state.json'), readFileSync(path.join(v, 'state.json')).subarray(0, 100)), 'state.json', 'is not valid JSON \\(.+\\)'],
    ['state.json garbage', (v) => writeFileSync(path.join(v, 'state.json'), '\u0000\u0001garbage'), 'state.json', 'is not valid JSON \\(.+\\)'],
    ['state.json empty', (v) => writeFileSync(path.join(v, 'state.json'), ''), 'state.json', 'is not valid JSON \\(.+\\)'],
    ['state.json an array', (v) => writeFileSync(path.join(v, 'state.json'), '[1, 2]'), 'state.json', 'holds \\[1, 2\\], not a JSON object'],
    ['state.json missing', (v) => rmSync(path.join(v, 'state.json')), 'state.json', 'cannot be read \\(ENOENT\\)'],
    ['tensors.safetensors missing', (v) => rmSync(path.join(v, 'tensors.safetensors')), 'tensors.safetensors', 'cannot be read \\(ENOENT\\)'],
    [
      'tensors.safetensors truncated in its data',
      (v) => {
        const bytes = readFileSync(path.join(v, 'tensors.safetensors'));
        writeFileSync(path.join(v, 'tensors.safetensors'), bytes.subarray(0, bytes.length - 12));
      },
      'tensors.safetensors',
      'tensor "optimizer/v/timeKernel" data_offsets \\[256,320\\] run past the end of the 308-byte data buffer',
    ],
    [
      'tensors.safetensors truncated in its header',
      (v) => writeFileSync(path.join(v, 'tensors.safetensors'), readFileSync(path.join(v, 'tensors.safetensors')).subarray(0, 40)),
      'tensors.safetensors',
      'declares a header of \\d+ bytes but only 32 bytes follow the length field',
    ],
    ['tensors.safetensors empty', (v) => writeFileSync(path.join(v, 'tensors.safetensors'), ''), 'tensors.safetensors', 'is 0 bytes long, too short for the 8-byte header length'],
    ['tensors.safetensors garbage', (v) => writeFileSync(path.join(v, 'tensors.safetensors'), Buffer.alloc(64, 0x7b)), 'tensors.safetensors', 'declares a header of \\d+ bytes'],
  ];
  for (const [name, damage, file, what] of cases) {
    test(name, async () => {
      const dir = damagedCopy(name, damage);
      const message = new RegExp(`^DirectoryCheckpointStore\\.read: path "${escape(dir)}" holds a damaged checkpoint: ${escape(`${dir}/${pristineVersion}/${file}`)} ${what}`);
      await expectRefused(dir, 'DirectoryCheckpointStore.read', message);
    });
  }

  test('a pointer naming a version that is not there', async () => {
    const dir = damagedCopy('dangling pointer', (_, d) => writeFileSync(path.join(d, 'checkpoint'), 'step-00000002-gone00\n'));
    const message = new RegExp(`holds a damaged checkpoint: ${escape(`${dir}/step-00000002-gone00/tensors.safetensors`)} cannot be read \\(ENOENT\\)`);
    await expectRefused(dir, 'DirectoryCheckpointStore.read', message);
  });

  test('a garbled pointer, and none at all', async () => {
    const garbled = damagedCopy('garbled pointer', (_, d) => writeFileSync(path.join(d, 'checkpoint'), 'step-0000\u0000'));
    await expectRefused(garbled, 'DirectoryCheckpointStore.read', new RegExp(`path "${escape(garbled)}/checkpoint" names ".*", not a checkpoint version`));
    const absent = damagedCopy('no pointer', (_, d) => rmSync(path.join(d, 'checkpoint')));
    await expectRefused(absent, 'DirectoryCheckpointStore.read', new RegExp(`path "${escape(absent)}" holds no checkpoint`));
  });
});

describe('a state.json with wrong-typed fields names the file and the field', () => {
  const cases: Array<[string, (state: Record<string, any>) => void, string]> = [
    ['another format', (s) => (s['format'] = 'something-else'), 'is not a difflib-trainer checkpoint of version 1 or 2 (format "something-else", version 2)'],
    ['a version from the future', (s) => (s['version'] = 3), 'is not a difflib-trainer checkpoint of version 1 or 2 (format "difflib-trainer", version 3)'],
    ['a step that is a string', (s) => (s['step'] = '2'), 'has step "2"; expected a non-negative integer'],
    ['a negative step', (s) => (s['step'] = -1), 'has step -1; expected a non-negative integer'],
    ['a fractional optimizer step', (s) => (s['optimizerStep'] = 1.5), 'has optimizerStep 1.5; expected a non-negative integer'],
    ['a batch size that is a string', (s) => (s['hyperparameters'].batchSize = '4'), 'has a bad hyperparameters.batchSize: must be a positive integer, got "4"'],
    ['EMA rates that are not numbers', (s) => (s['hyperparameters'].emaRates = 'fast'), 'has a bad hyperparameters.emaRates: must be an array of distinct numbers in [0, 1), got "fast"'],
    ['no hyperparameters', (s) => delete s['hyperparameters'], 'has hyperparameters undefined; expected an object'],
    ['a fingerprint field of the wrong type', (s) => (s['diffusion'].numTimesteps = '8'), 'has diffusion.numTimesteps "8"; expected a number'],
    ['no fingerprint', (s) => (s['diffusion'] = null), 'has diffusion null; expected the process fingerprint object'],
    ['a parameter list that is not a list', (s) => (s['parameters'] = { kernel: [1, 2] }), 'has parameters an object; expected an array'],
    ['a parameter shape that is a string', (s) => (s['parameters'][0].shape = '1,2'), 'has parameters[0] ["kernel", "1,2"]; expected { name: string, shape: non-negative integers }'],
    ['a version-1 sampler history that is a number', (s) => Object.assign(s, { version: 1, resampler: 5 }), 'has resampler 5; expected null or a loss history object'],
    ['no sampler state', (s) => delete s['samplerState'], "has no samplerState; expected null or the timestep sampler's state"],
    ['a bad labelDropout', (s) => (s['hyperparameters'].labelDropout = { probability: 2, nullLabel: 0 }), 'has a bad hyperparameters.labelDropout.probability: must be a number in [0, 1] (0.1 to 0.2 in Ho & Salimans), got 2'],
  ];
  for (const [name, edit, what] of cases) {
    test(name, async () => {
      const dir = damagedCopy(name, (v) => editState(v, edit));
      const message = new RegExp(`^Trainer\\.(load|restore): checkpoint \\(${escape(`${dir}/${pristineVersion}/state.json`)}\\) ${escape(what)}$`);
      await expectRefused(dir, 'Trainer.*', message, 'INVALID_ARGUMENT');
    });
  }

  test('a truncated sampler history (it must hold T × historyPerTerm losses)', async () => {
    const dir = damagedCopy('short history', (v) => editState(v, (s) => s['samplerState'].lossHistory.pop()));
    const message = new RegExp(`\\(${escape(`${dir}/${pristineVersion}/state.json`)}\\) does not fit this trainer: its timestep sampler state must hold 8×10 finite losses`);
    await expectRefused(dir, 'Trainer.*', message, 'SHAPE_MISMATCH');
  });
});

describe('a checkpoint that does not fit is refused, leaking nothing and changing nothing', () => {
  const state = `\\(${escape(`${pristine}/`)}step-[^/]+/state\\.json\\)`;
  const tensors = `\\(${escape(`${pristine}/`)}step-[^/]+/tensors\\.safetensors\\)`;

  test('a checkpoint of another process: other T, other schedule, other loss', async () => {
    const edits: Array<[(s: Record<string, any>) => void, string]> = [
      [(s) => (s['diffusion'].numTimesteps = 16), 'diffusion.numTimesteps is 16 in the checkpoint but 8 here'],
      [(s) => (s['diffusion'].betasSum *= 1.001), 'diffusion.betasSum is'],
      [(s) => (s['diffusion'].lossType = 'kl'), 'diffusion.lossType is "kl" in the checkpoint but "rescaled_mse" here'],
    ];
    for (const [edit, what] of edits) {
      await expectRefused(editedStore((c) => edit(c.state)), 'Trainer.*', new RegExp(`checkpoint ${state} does not fit this trainer: ${escape(what)}`), 'SHAPE_MISMATCH');
    }
  });

  test('a process that differs only in its schedule (same T)', async () => {
    // The checkpoint is fine; the trainer's process is not the one it was trained with.
    const halved = new GaussianDiffusion({
      betas: Array.from(namedBetaSchedule('cosine', 8), (b) => b / 2),
      modelMeanType: 'epsilon',
      modelVarType: 'learned_range',
      lossType: 'rescaled_mse',
    });
    const model = makeOpsModel(1, 42);
    cleanup.push(() => model.dispose());
    const before = tf.memory().numTensors;
    const error = await Trainer.load(pristine, { diffusion: halved, model }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DifflibError);
    expect((error as DifflibError).message).toMatch(/does not fit this trainer: diffusion\.betasSum is/);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('an edited parameter shape, in state.json or in the tensors', async () => {
    await expectRefused(
      editedStore((c) => ((c.state['parameters'] as Array<{ shape: number[] }>)[1]!.shape = [1, 3])),
      'Trainer.*',
      new RegExp(`checkpoint ${state} does not fit this trainer: the parameter list is "3 parameters, differing: bias \\[1,3\\]" in the checkpoint but "3 parameters" here`),
      'SHAPE_MISMATCH',
    );
    await expectRefused(
      editedStore((c) => c.tensors.set('ema_0.9/kernel', { shape: [2, 1], data: new Float32Array(2) })),
      'Trainer.*',
      new RegExp(`checkpoint ${tensors} does not fit this trainer: tensor "ema_0.9/kernel" is "\\[2,1\\] with 2 values" in the checkpoint but "float32 \\[1,2\\]" here`),
      'SHAPE_MISMATCH',
    );
    await expectRefused(
      editedStore((c) => c.tensors.set('optimizer/v/bias', { shape: [2], data: new Float64Array(2) as never })),
      'Trainer.*',
      new RegExp(`checkpoint ${tensors} does not fit this trainer: tensor "optimizer/v/bias"`),
      'SHAPE_MISMATCH',
    );
  });

  test('a missing or an extra tensor', async () => {
    await expectRefused(
      editedStore((c) => c.tensors.delete('optimizer/m/timeKernel')),
      'Trainer.*',
      new RegExp(`checkpoint ${tensors} does not fit this trainer: the tensor list is "missing optimizer/m/timeKernel; unexpected none"`),
      'SHAPE_MISMATCH',
    );
    await expectRefused(
      editedStore((c) => c.tensors.set('model/extra', { shape: [1], data: new Float32Array(1) })),
      'Trainer.*',
      /does not fit this trainer: the tensor list is "missing none; unexpected model\/extra"/,
      'SHAPE_MISMATCH',
    );
  });

  test('other EMA rates or sampler: restore refuses; load takes them from the checkpoint', async () => {
    // Through load the checkpoint's rates and sampler become the trainer's, unless overridden.
    const model = makeOpsModel(1, 42);
    cleanup.push(() => model.dispose());
    const before = tf.memory().numTensors;
    const override = await Trainer.load(pristine, { diffusion: makeDiffusion(8), model, emaRates: [0.99] }).catch((e: unknown) => e);
    expect((override as DifflibError).message).toMatch(/does not fit this trainer: emaRates is \[0\.9\] in the checkpoint but \[0\.99\] here/);
    const sampler = await Trainer.load(pristine, { diffusion: makeDiffusion(8), model, scheduleSampler: 'uniform' }).catch((e: unknown) => e);
    expect((sampler as DifflibError).message).toMatch(/scheduleSampler is "loss-second-moment" in the checkpoint but "uniform" here/);
    expect(tf.memory().numTensors).toBe(before);

    const { trainer } = makeTrainer(9, { emaRates: [0.9, 0.99] });
    const bytes = stateBytes(trainer);
    const tensors = tf.memory().numTensors;
    const error = await trainer.restore(pristine).catch((e: unknown) => e);
    expect((error as DifflibError).message).toMatch(/^Trainer\.restore: checkpoint .* does not fit this trainer: emaRates is \[0\.9\] in the checkpoint but \[0\.9,0\.99\] here$/);
    expect(tf.memory().numTensors).toBe(tensors);
    expectSameBytes(stateBytes(trainer), bytes);
  });

  test('a store that hands back something that is not a checkpoint', async () => {
    const store = (value: unknown): CheckpointStore => ({ write: async () => undefined, read: async () => value as Checkpoint });
    await expectRefused(store(null), 'Trainer.*', /checkpoint must be \{ tensors: Map, state: object \}/, 'INVALID_ARGUMENT');
    await expectRefused(store({ tensors: {}, state: {} }), 'Trainer.*', /checkpoint must be \{ tensors: Map, state: object \}/, 'INVALID_ARGUMENT');
  });
});

describe('damaged IO-handler artifacts name the handler, the part and what is wrong', () => {
  /** Artifacts of the pristine checkpoint, a deep copy edited. */
  const edited = (edit: (a: tf.io.ModelArtifacts) => void): tf.io.IOHandler => {
    const copy: tf.io.ModelArtifacts = {
      ...artifacts,
      weightSpecs: artifacts.weightSpecs!.map((s) => ({ ...s, shape: [...s.shape] })),
      weightData: (artifacts.weightData as ArrayBuffer).slice(0),
      userDefinedMetadata: JSON.parse(JSON.stringify(artifacts.userDefinedMetadata)),
    };
    edit(copy);
    return tf.io.fromMemory(copy);
  };
  const bytes = () => (artifacts.weightData as ArrayBuffer).byteLength;
  const prefix = '^IOHandlerCheckpointStore\\.read: target \\(an? \\w+\\) holds a damaged checkpoint: ';

  // The last field is a regular expression: byte counts vary with the layout.
  const cases: Array<[string, (a: tf.io.ModelArtifacts) => void, string]> = [
    ['no state', (a) => (a.userDefinedMetadata = {}), 'userDefinedMetadata\\.state is undefined, not a JSON object'],
    ['a state that is a string', (a) => (a.userDefinedMetadata = { state: '{}' }), 'userDefinedMetadata\\.state is "\\{\\}", not a JSON object'],
    ['weight specs that are not a list', (a) => (a.weightSpecs = {} as never), 'weightSpecs is an object, not an array'],
    ['a weight spec without a name', (a) => delete (a.weightSpecs![2] as Partial<tf.io.WeightsManifestEntry>).name, 'weightSpecs\\[2\\] is an object; expected \\{ name, shape, dtype \\} with a name not used before'],
    ['a weight spec named twice', (a) => (a.weightSpecs![1]!.name = a.weightSpecs![0]!.name), 'weightSpecs\\[1\\] is an object; expected \\{ name, shape, dtype \\} with a name not used before'],
    ['a weight shape that is a string', (a) => (a.weightSpecs![0]!.shape = '1,2' as never), 'weightSpecs\\[0\\] \\("model/kernel"\\) has shape "1,2"; expected an array of non-negative integers'],
    ['an int32 weight', (a) => (a.weightSpecs![0]!.dtype = 'int32'), 'weightSpecs\\[0\\] \\("model/kernel"\\) is "int32"; checkpoints are float32'],
    ['truncated weight data', (a) => (a.weightData = (a.weightData as ArrayBuffer).slice(0, bytes() - 4)), 'weightData holds \\d+ bytes, too few for weight "optimizer/v/timeKernel" \\(bytes \\d+\\.\\.\\d+\\): truncated'],
    ['weight data with bytes to spare', (a) => (a.weightData = new Uint8Array(bytes() + 8).buffer), 'weightData holds \\d+ bytes but weightSpecs describe \\d+'],
  ];
  for (const [name, edit, what] of cases) {
    test(name, async () => {
      await expectRefused(new IOHandlerCheckpointStore(edited(edit)), 'IOHandlerCheckpointStore.read', new RegExp(`${prefix}${what}$`));
    });
  }

  test('a handler whose load fails (a garbled model.json, say)', async () => {
    const failing: tf.io.IOHandler = { load: async () => JSON.parse('{"format": "difflib-') as tf.io.ModelArtifacts };
    await expectRefused(new IOHandlerCheckpointStore(failing), 'IOHandlerCheckpointStore.read', /^IOHandlerCheckpointStore\.read: target \(an object\) could not be loaded \(SyntaxError: /);
  });

  test('a wrong-typed state field names the handler', async () => {
    const store = new IOHandlerCheckpointStore(edited((a) => ((a.userDefinedMetadata!['state'] as Record<string, unknown>)['step'] = -3)));
    await expectRefused(store, 'Trainer.*', /^Trainer\.(load|restore): checkpoint \(userDefinedMetadata\.state of an? \w+\) has step -3; expected a non-negative integer$/);
  });
});
