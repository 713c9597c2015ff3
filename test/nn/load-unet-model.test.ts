// registerUNetLayers and loadUNetModel: what a saved U-Net needs to load back, even when
// a bundler dropped difflib's import-time registration (simulated here by removing the
// classes from tfjs' registry; test/bundle-registration.test.ts does it with a real bundle).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DifflibError, loadUNetModel, registerUNetLayers } from '../../src/index';
import { useBackend } from '../backends';
import { savedEveryLayerUNet } from '../helpers';


const CLASS_NAMES = ['DifflibGroupNormalization', 'DifflibNearestUpsampling2D', 'DifflibQKVAttention', 'DifflibTimeConditioning', 'DifflibTimestepEmbedding'];

const registry = () => tf.serialization.SerializationMap.getMap().classNameMap;

/** What a bundle that dropped difflib's registration leaves: none of its classes known. */
function unregisterUNetLayers(): void {
  for (const name of CLASS_NAMES) delete registry()[name];
}

/** A tiny U-Net with random (non-zero) weights, its saved artifacts and its output on a fixed input. */
async function savedUNet(): Promise<{ artifacts: tf.io.ModelArtifacts; x: tf.Tensor; t: tf.Tensor; expected: Float32Array }> {
  const { unet, artifacts } = await savedEveryLayerUNet();
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 7);
  const t = tf.tensor2d([[3], [640]]);
  const out = unet.model.predict([x, t]) as tf.Tensor;
  const expected = out.dataSync() as Float32Array;
  out.dispose();
  unet.dispose();
  return { artifacts, x, t, expected };
}

async function expectRejection(promise: Promise<unknown>, argument: string): Promise<DifflibError> {
  const e = await promise.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DifflibError);
  const err = e as DifflibError;
  expect([err.code, err.functionName, err.argument]).toEqual(['INVALID_ARGUMENT', 'loadUNetModel', argument]);
  expect(err.message.startsWith(`loadUNetModel: ${argument} `)).toBe(true);
  return err;
}

describe('registerUNetLayers', () => {
  beforeAll(() => useBackend('cpu'));
  afterEach(() => registerUNetLayers()); // leave the registry as importing difflib left it

  it('registers the five custom layer classes under their class names, idempotently, making no tensor', () => {
    unregisterUNetLayers();
    expect(CLASS_NAMES.filter((name) => name in registry())).toEqual([]);
    const before = tf.memory().numTensors;
    const names = registerUNetLayers();
    expect([...names].sort()).toEqual(CLASS_NAMES);
    const entries = names.map((name) => registry()[name]!);
    entries.forEach(([cls], i) => expect((cls as unknown as { className: string }).className).toBe(names[i]));
    expect(registerUNetLayers()).toEqual(names);
    names.forEach((name, i) => {
      expect(registry()[name]![0]).toBe(entries[i]![0]);
      expect(registry()[name]![1]).toBe(entries[i]![1]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('loadUNetModel', () => {
  beforeAll(() => useBackend('cpu'));
  afterEach(() => registerUNetLayers());

  it('loads a saved U-Net with the layers unregistered, where tfl.loadLayersModel fails, and predicts bit for bit; leaks nothing', async () => {
    const { artifacts, x, t, expected } = await savedUNet();
    const topology = JSON.stringify(artifacts.modelTopology);
    // With scale-shift norm the time conditioning is part of GroupNormalization (one fused op).
    for (const name of CLASS_NAMES.filter((n) => n !== 'DifflibTimeConditioning')) {
      expect(topology, `the saved model uses ${name}`).toContain(`"class_name":"${name}"`);
    }
    expect(topology).toContain('"scale_shift":true,"activation":"silu"');

    unregisterUNetLayers();
    await expect(tfl.loadLayersModel(tf.io.fromMemory(artifacts))).rejects.toThrow(/Unknown layer: Difflib/);

    unregisterUNetLayers();
    const before = tf.memory().numTensors;
    const model = await loadUNetModel(tf.io.fromMemory(artifacts));
    const out = model.predict([x, t]) as tf.Tensor;
    expect(out.shape).toEqual([2, 8, 8, 3]);
    expect(Math.max(...Array.from(expected, Math.abs)), 'a non-trivial output').toBeGreaterThan(0.1);
    expect(Array.from(out.dataSync())).toEqual(Array.from(expected));
    out.dispose();
    model.dispose();
    expect(tf.memory().numTensors, 'live tensors once the model is disposed').toBe(before);
    tf.dispose([x, t]);
  });

  it('passes a failing read through, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    const failing: tf.io.IOHandler = { load: () => Promise.reject(new Error('no such model')) };
    await expect(loadUNetModel(failing)).rejects.toThrow('no such model');
    expect(tf.memory().numTensors).toBe(before);
  });

  describe('refuses bad arguments before reading anything, making no tensor', () => {
    let reads = 0;
    const handler: tf.io.IOHandler = {
      load: async () => {
        reads++;
        throw new Error('read');
      },
    };

    it.each([
      ['undefined', undefined, 'undefined'],
      ['null', null, 'null'],
      ['an empty string', '', '""'],
      ['a number', 42, '42'],
      ['an object without load()', {}, 'an object'],
      ['load that is not a function', { load: 'model.json' }, 'an object'],
    ])('source: %s', async (_, source, shown) => {
      const before = tf.memory().numTensors;
      const e = await expectRejection(loadUNetModel(source as never), 'source');
      expect(e.detail).toBe(`must be a non-empty tfjs URL or an IOHandler with load(), got ${shown}`);
      expect(tf.memory().numTensors).toBe(before);
    });

    it.each([
      ['null', null],
      ['a string', 'strict'],
      ['an array', [true]],
    ])('options: %s', async (_, options) => {
      const before = tf.memory().numTensors;
      await expectRejection(loadUNetModel(handler, options as never), 'options');
      expect(reads).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
