import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { HostDataset } from '../../src/data';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';

/** 10 examples of shape [2, 1, 1]: example n holds [n, 100 + n]; label n % 3. */
const N = 10;
const dataset = new HostDataset<tf.Tensor4D>(
  Float32Array.from({ length: 2 * N }, (_, i) => (i % 2 === 0 ? i / 2 : 100 + (i - 1) / 2)),
  [N, 2, 1, 1],
  Int32Array.from({ length: N }, (_, n) => n % 3),
);

/** The example ids of a batch, read back (the test asks for values). */
function ids(batch: { x: tf.Tensor; labels?: tf.Tensor1D }): number[] {
  const x = batch.x.dataSync();
  const labels = batch.labels!.dataSync();
  const out = Array.from({ length: batch.x.shape[0] }, (_, i) => x[2 * i]!);
  out.forEach((n, i) => {
    expect(x[2 * i + 1]).toBe(100 + n); // rows are copied whole
    expect(labels[i]).toBe(n % 3); // labels follow their rows
  });
  return out;
}

describe('HostDataset', () => {
  beforeAll(() => useBackend('cpu'));

  it('batches(b) visits every example exactly once per epoch, each epoch in a new seeded order', () => {
    const seen: number[][] = [[], []];
    const sizes: number[] = [];
    let k = 0;
    for (const batch of dataset.batches(4, { seed: 3, epochs: 2 })) {
      expect(batch.x.shape.slice(1)).toEqual([2, 1, 1]);
      expect(batch.x.dtype).toBe('float32');
      expect(batch.labels!.dtype).toBe('int32');
      sizes.push(batch.x.shape[0]);
      seen[k < 3 ? 0 : 1]!.push(...ids(batch));
      tf.dispose(batch);
      k++;
    }
    expect(sizes).toEqual([4, 4, 2, 4, 4, 2]);
    const all = Array.from({ length: N }, (_, n) => n);
    expect([...seen[0]!].sort((a, b) => a - b)).toEqual(all);
    expect([...seen[1]!].sort((a, b) => a - b)).toEqual(all);
    expect(seen[1]).not.toEqual(seen[0]);
    expect(seen[0]).not.toEqual(all); // shuffled
  });

  it('is deterministic under a seed; shuffle: false keeps the order; dropRemainder drops the short batch', () => {
    const run = (options: Parameters<typeof dataset.batches>[1]) =>
      [...dataset.batches(4, options)].map((b) => {
        const out = ids(b);
        tf.dispose(b);
        return out;
      });
    expect(run({ seed: 9 })).toEqual(run({ seed: 9 }));
    expect(run({ seed: 9 })).not.toEqual(run({ seed: 10 }));
    expect(run({ shuffle: false })).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(run({ shuffle: false, dropRemainder: true })).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
  });

  it('sampleBatch draws distinct examples, reproducibly under a seed', () => {
    const a = dataset.sampleBatch(6, { seed: 1 });
    const b = dataset.sampleBatch(6, { seed: 1 });
    expect(ids(a)).toEqual(ids(b));
    expect(new Set(ids(a)).size).toBe(6);
    tf.dispose([a, b]);
  });

  it('batch(indices) gathers those rows in that order', () => {
    const batch = dataset.batch([7, 2, 2]);
    expect(ids(batch)).toEqual([7, 2, 2]);
    tf.dispose(batch);
  });

  it('makes only the tensors it hands over, and reads nothing back', () => {
    const before = tf.memory().numTensors;
    const reads = countReadbacks(() => {
      const it = dataset.batches(3, { seed: 0, epochs: Infinity });
      for (let i = 0; i < 7; i++) tf.dispose(it.next().value as tf.TensorContainer);
      it.return();
      tf.dispose(dataset.sampleBatch(2));
    });
    expect(reads).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bad input, naming the argument', () => {
    expectDifflibError(() => new HostDataset(new Float32Array(5), [3, 2]), 'HostDataset', 'data', 'SHAPE_MISMATCH');
    expectDifflibError(() => new HostDataset([1, 2] as never, [1, 2]), 'HostDataset', 'data', 'INVALID_ARGUMENT');
    expectDifflibError(() => new HostDataset(new Float32Array(4), [4]), 'HostDataset', 'shape', 'INVALID_ARGUMENT');
    expectDifflibError(() => new HostDataset(new Float32Array(4), [2, 2], new Int32Array(3)), 'HostDataset', 'labels', 'SHAPE_MISMATCH');
    expectDifflibError(() => dataset.batches(0), 'HostDataset.batches', 'batchSize', 'INVALID_ARGUMENT');
    expectDifflibError(() => dataset.batches(2, { epochs: 0.5 }), 'HostDataset.batches', 'options.epochs', 'INVALID_ARGUMENT');
    expectDifflibError(() => dataset.sampleBatch(N + 1), 'HostDataset.sampleBatch', 'batchSize', 'OUT_OF_RANGE');
    expectDifflibError(() => dataset.sampleBatch(2, { seed: Number.NaN }), 'HostDataset.sampleBatch', 'options.seed');
    expectDifflibError(() => dataset.batch([0, N]), 'HostDataset.batch', 'indices', 'OUT_OF_RANGE');
    expectDifflibError(() => dataset.batch([]), 'HostDataset.batch', 'indices', 'INVALID_ARGUMENT');
  });
});
