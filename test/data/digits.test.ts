import { beforeAll, describe, expect, it } from 'vitest';
import { digitsFromMnist, digitsFromPixels, type HostDataset } from '../../src/data';
import { areaResize } from '../../src/data/area-resize';
import { seededUniform } from '../../src/random';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { fakeMnist } from './fake-mnist';

// Class sizes as uneven as the real package's (863 … 1127), scaled down; ≤ 25 so the
// id in pixel 0 (10·index + class) stays below 256.
const SIZES = [20, 23, 19, 21, 20, 17, 20, 21, 19, 20];
const TOTAL = SIZES.reduce((a, b) => a + b, 0);
const { mnist, levels } = fakeMnist(SIZES);

/** The 8-bit level behind a value on the grid x = k/127.5 − 1, or NaN if it is off the grid. */
function levelOf(v: number): number {
  const k = Math.round((v + 1) * 127.5);
  return k >= 0 && k <= 255 && v === Math.fround(k / 127.5 - 1) ? k : NaN;
}

/** Example n of a dataset as a plain array. */
function example(ds: HostDataset, n: number): Float32Array {
  const size = ds.data.length / ds.length;
  return ds.data.subarray(n * size, (n + 1) * size);
}

/** Exact element-wise equality (vitest's deep equality is slow on 10⁵-element arrays). */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The (class, index) id the fake module wrote into source pixel (0, 0). */
function idOf(ds: HostDataset, n: number): string {
  const side = ds.shape[1]!;
  const offset = side === 32 ? 2 * 32 + 2 : 0;
  return `${ds.labels![n]}:${levelOf(example(ds, n)[offset]!)}`;
}

describe('digitsFromMnist', () => {
  beforeAll(() => useBackend('cpu'));

  it('makes [N, S, S, 1] images for S = 16, 28, 32, with one label per image', () => {
    for (const size of [16, 28, 32] as const) {
      const ds = digitsFromMnist(mnist, { size });
      expect(ds.shape).toEqual([TOTAL, size, size, 1]);
      expect(ds.data.length).toBe(TOTAL * size * size);
      expect(ds.labels!.length).toBe(TOTAL);
    }
  });

  it('puts every value exactly on the 256-level grid k/127.5 − 1 in [−1, 1]', () => {
    for (const size of [16, 28, 32] as const) {
      const { data } = digitsFromMnist(mnist, { size });
      const off = data.filter((v) => Number.isNaN(levelOf(v)));
      expect(off.length, `off-grid values at size ${size}`).toBe(0);
    }
    // The fake digits use every level, and 28 × 28 keeps them all, both ends included.
    expect(new Set(digitsFromMnist(mnist, { size: 28 }).data).size).toBe(256);
  });

  it('recovers the 8-bit level of every pixel from the package’s 3-decimal floats', () => {
    // The package stores round(k/255, 3); 28 × 28 keeps pixels as they are.
    const ds = digitsFromMnist(mnist, { size: 28, seed: 3 });
    for (let n = 0; n < ds.length; n++) {
      const [digit, index] = [ds.labels![n]!, (levelOf(example(ds, n)[0]!) - ds.labels![n]!) / 10];
      const source = levels[digit]!.subarray(index * 784, (index + 1) * 784);
      expect(Array.from(example(ds, n), levelOf)).toEqual(Array.from(source));
    }
  });

  it('pads 28 to 32 with 2 pixels of −1 on every side around the unchanged digit', () => {
    const d28 = digitsFromMnist(mnist, { size: 28, seed: 5 });
    const d32 = digitsFromMnist(mnist, { size: 32, seed: 5 });
    const expected = new Float32Array(d32.data.length);
    for (let n = 0; n < d32.length; n++) {
      const small = example(d28, n);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          expected[n * 1024 + y * 32 + x] = inside ? small[(y - 2) * 28 + x - 2]! : -1;
        }
      }
    }
    expect(sameValues(d32.data, expected)).toBe(true);
  });

  it('resizes to 16 by area, keeping each digit’s mean intensity to within the final rounding', () => {
    const d28 = digitsFromMnist(mnist, { size: 28, seed: 5 });
    const d16 = digitsFromMnist(mnist, { size: 16, seed: 5 });
    let worst = 0;
    for (let n = 0; n < d16.length; n++) {
      const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
      worst = Math.max(worst, Math.abs(mean(example(d16, n)) - mean(example(d28, n))));
    }
    // Area resampling preserves the mean exactly; rounding each output pixel to its level
    // moves it by at most half a level, 0.5·2/255 on the [−1, 1] scale.
    expect(worst).toBeLessThanOrEqual(1 / 255);
    expect(worst).toBeGreaterThan(0); // the bound is not vacuous: rounding does move it
  });

  it('labels every digit 0–9 with its class, each class as often as the package has it', () => {
    const ds = digitsFromMnist(mnist);
    const counts = new Array(10).fill(0);
    ds.labels!.forEach((l) => counts[l]++);
    expect(counts).toEqual(SIZES);
  });

  it('is deterministic under a seed, and a new seed only reorders', () => {
    const a = digitsFromMnist(mnist, { seed: 7 });
    const b = digitsFromMnist(mnist, { seed: 7 });
    const c = digitsFromMnist(mnist, { seed: 8 });
    expect(sameValues(b.data, a.data)).toBe(true);
    expect(sameValues(b.labels!, a.labels!)).toBe(true);
    expect(sameValues(c.data, a.data)).toBe(false);
    const ids = (ds: HostDataset) => Array.from({ length: ds.length }, (_, n) => idOf(ds, n)).sort();
    expect(ids(c)).toEqual(ids(a));
    expect(new Set(ids(a)).size).toBe(TOTAL); // the ids tell all digits apart
  });

  it('splits each class into disjoint train and test parts (the last 10% is test)', () => {
    const ids = (ds: HostDataset) => Array.from({ length: ds.length }, (_, n) => idOf(ds, n));
    const train = ids(digitsFromMnist(mnist, { split: 'train' }));
    const test = ids(digitsFromMnist(mnist, { split: 'test' }));
    const all = ids(digitsFromMnist(mnist, { split: 'all' }));
    expect(test.length).toBe(SIZES.reduce((s, n) => s + Math.round(0.1 * n), 0));
    expect(new Set([...train, ...test]).size).toBe(train.length + test.length);
    expect([...train, ...test].sort()).toEqual([...all].sort());
    // Class 0 has 20 digits: its test part is indices 18 and 19 (id 10·i + 0).
    expect(test.filter((id) => id.startsWith('0:')).sort()).toEqual(['0:180', '0:190']);
  });

  it('keeps a seeded subset of `count` digits', () => {
    const all = digitsFromMnist(mnist, { seed: 2 });
    const some = digitsFromMnist(mnist, { count: 15, seed: 2 });
    expect(some.shape).toEqual([15, 32, 32, 1]);
    // The subset is the first `count` of the same seeded order.
    expect(sameValues(some.data, all.data.subarray(0, 15 * 32 * 32))).toBe(true);
  });

  it('refuses bad input, naming the argument', () => {
    expectDifflibError(() => digitsFromMnist({} as never), 'digitsFromMnist', 'mnist', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromMnist(mnist.slice(0, 9) as never), 'digitsFromMnist', 'mnist', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromMnist(mnist, { size: 64 as never }), 'digitsFromMnist', 'options.size', 'UNKNOWN_OPTION');
    expectDifflibError(() => digitsFromMnist(mnist, { split: 'validation' as never }), 'digitsFromMnist', 'options.split', 'UNKNOWN_OPTION');
    expectDifflibError(() => digitsFromMnist(mnist, { count: TOTAL + 1 }), 'digitsFromMnist', 'options.count', 'UNSATISFIABLE');
    expectDifflibError(() => digitsFromMnist(mnist, { count: 0 }), 'digitsFromMnist', 'options.count', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromMnist(mnist, { split: 'test', testFraction: 0 }), 'digitsFromMnist', 'options.split', 'UNSATISFIABLE');
    expectDifflibError(() => digitsFromMnist(mnist, { testFraction: 1.5 }), 'digitsFromMnist', 'options.testFraction');
    expectDifflibError(() => digitsFromMnist(mnist, { seed: 0.5 }), 'digitsFromMnist', 'options.seed');
    const bytes = [{ length: 1, raw: new Array(784).fill(255) }, ...mnist.slice(1)] as never;
    const err = expectDifflibError(() => digitsFromMnist(bytes), 'digitsFromMnist', 'mnist[0].raw', 'INVALID_ARGUMENT');
    expect(err.message).toContain('[0, 1]');
  });
});

describe('digitsFromPixels', () => {
  it('reads 0–255 bytes to the same grid values as the package’s floats, keeping order', () => {
    const bytes = levels[3]!.subarray(0, 4 * 784);
    const ds = digitsFromPixels(bytes, [3, 3, 3, 3], { size: 28, maxValue: 255 });
    expect(ds.shape).toEqual([4, 28, 28, 1]);
    expect(Array.from(ds.data, levelOf)).toEqual(Array.from(bytes));
    const fromFloats = digitsFromPixels(mnist[3]!.raw, new Array(SIZES[3]).fill(3), { size: 16 });
    const fromBytes = digitsFromPixels(levels[3]!, new Array(SIZES[3]).fill(3), { size: 16, maxValue: 255 });
    expect(sameValues(fromFloats.data, fromBytes.data)).toBe(true);
  });

  it('refuses pixels that are not N × 784, labels of the wrong count, and values out of range', () => {
    expectDifflibError(() => digitsFromPixels(new Float32Array(700), [0]), 'digitsFromPixels', 'pixels', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromPixels(new Float32Array(784 * 2), [0]), 'digitsFromPixels', 'labels', 'SHAPE_MISMATCH');
    expectDifflibError(() => digitsFromPixels(new Float32Array(784), [-1]), 'digitsFromPixels', 'labels', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromPixels(new Float32Array(784).fill(NaN), [0]), 'digitsFromPixels', 'pixels', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromPixels(new Float32Array(784).fill(2), [0]), 'digitsFromPixels', 'pixels', 'INVALID_ARGUMENT');
    expectDifflibError(() => digitsFromPixels(new Float32Array(784), [0], { maxValue: 0 }), 'digitsFromPixels', 'options.maxValue');
  });
});

describe('areaResize (the 16 × 16 path)', () => {
  const random = seededUniform(11);
  const image = Float64Array.from({ length: 784 }, () => Math.floor(random() * 256));
  const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

  it('preserves the mean exactly (to float64 rounding)', () => {
    expect(Math.abs(mean(areaResize(image, 28, 16)) - mean(image))).toBeLessThan(1e-12);
  });

  it('is 2 × 2 mean pooling for a factor of 2', () => {
    const out = areaResize(image, 28, 14);
    for (let i = 0; i < 14; i++) {
      for (let j = 0; j < 14; j++) {
        const p = (y: number, x: number) => image[(2 * i + y) * 28 + 2 * j + x]!;
        expect(out[i * 14 + j]).toBeCloseTo((p(0, 0) + p(0, 1) + p(1, 0) + p(1, 1)) / 4, 10);
      }
    }
  });

  it('averages the 1.75-pixel square of each output: a single bright input pixel spreads by overlap', () => {
    // Input pixel (1, 1) covers [1, 2)²; output pixel (0, 0) covers [0, 1.75)², so it
    // holds 0.75² / 1.75² of that pixel's value, output (0, 1) gets 0.75·0.25 / 1.75².
    const one = new Float64Array(784);
    one[1 * 28 + 1] = 1;
    const out = areaResize(one, 28, 16);
    expect(out[0]).toBeCloseTo(0.5625 / 3.0625, 12);
    expect(out[1]).toBeCloseTo(0.1875 / 3.0625, 12);
    expect(out[16 + 1]).toBeCloseTo(0.0625 / 3.0625, 12);
    expect(out[2]).toBe(0);
  });
});
