// vite/client types declare import.meta.glob (not in tsconfig "types").
/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { NODE_BACKENDS, useBackend } from './backends';

describe.each(NODE_BACKENDS)('%s backend', (name) => {
  it('starts and adds float32 tensors exactly', async () => {
    await useBackend(name);
    expect(tf.getBackend()).toBe(name);
    const sum = tf.add(tf.tensor1d([1.5, -2, 1e-3, 1e6]), tf.tensor1d([0.25, 2, 2e-3, -1]));
    expect(sum.dtype).toBe('float32');
    // Expected values are the float32 roundings of the exact sums.
    expect(Array.from(await sum.data())).toEqual(
      [1.75, 0, 3e-3, 999999].map(Math.fround),
    );
  });
});

describe('golden references load in Node', () => {
  it('reads test/fixtures/reference/losses.json via import.meta.glob', async () => {
    // Same pattern the shared loader uses; resolved relative to this file.
    const refs = import.meta.glob('./fixtures/reference/*.json', { import: 'default' });
    const load = refs['./fixtures/reference/losses.json'];
    expect(load, 'losses.json not matched; is test/fixtures/reference complete?').toBeDefined();
    const losses = (await load!()) as { schema_version: number; group: string; cases: unknown[] };
    expect(losses.schema_version).toBe(1);
    expect(losses.group).toBe('losses');
    expect(losses.cases.length).toBeGreaterThan(0);
  });
});
