import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { checkTensor } from '../validate';

/**
 * A closed interval [min, max] that data should lie in: `[-1, 1]` for images, the
 * range the processes' x_0 clipping and bits/dim decoder assume.
 */
export type DataRange = readonly [min: number, max: number];

/** Checks a {@link DataRange}: two finite numbers, min < max. @internal */
export function checkDataRangeOption(fn: string, arg: string, range: unknown): DataRange {
  const ok = Array.isArray(range) && range.length === 2 && range.every(Number.isFinite) && range[0] < range[1];
  if (!ok) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be [min, max] with finite min < max (e.g. [-1, 1]), got ${describeValue(range)}`);
  }
  return [range[0], range[1]];
}

/** A number for a message: at most 6 significant digits. */
const short = (v: number) => String(Number(v.toPrecision(6)));

/**
 * The refusal of data whose smallest and largest values `seen` fall outside `range`,
 * with a hint for the usual mistake (8-bit pixels), or null when they lie inside.
 * @param expected - how the message names the range, e.g. `expectDataRange`.
 * @internal
 */
export function dataRangeError(fn: string, arg: string, seen: readonly [number, number], range: DataRange, expected: string): DifflibError | null {
  const [lo, hi] = seen;
  const [min, max] = range;
  if (Number.isNaN(lo) || Number.isNaN(hi)) return new DifflibError('NON_FINITE', fn, arg, 'holds NaN');
  if (lo >= min && hi <= max) return null;
  const eightBit = lo >= 0 && hi <= 255 && hi > Math.max(1, max);
  const hint = !eightBit
    ? `rescale the data to [${short(min)}, ${short(max)}]`
    : min === -1 && max === 1
      ? '8-bit pixels? Scale them with x / 127.5 - 1 (digitsFromMnist and digitsFromPixels already give [-1, 1])'
      : `8-bit pixels? Map [0, 255] onto [${short(min)}, ${short(max)}]`;
  return new DifflibError('DATA_RANGE', fn, arg, `holds values in [${short(lo)}, ${short(hi)}], outside ${expected} [${short(min)}, ${short(max)}]: ${hint}`);
}

/**
 * Checks that a batch lies in a range, reading back its smallest and largest values
 * (two numbers, one readback: call it once, on a first batch, not in a training loop).
 * Diffusion models assume images in [−1, 1]; 8-bit pixels in [0, 255] train with a
 * normal-looking loss and sample garbage. {@link digitsFromMnist} and
 * {@link digitsFromPixels} already give [−1, 1]. A {@link Trainer} does this check on
 * its first batch, at no extra readback, with its `expectDataRange` option.
 *
 * @param x - [B, …] float32 or int32 data.
 * @param range - [min, max]; default [−1, 1].
 * @returns the smallest and largest values seen.
 * @throws DifflibError (code `DATA_RANGE`) naming the values seen, the range and a hint,
 *   e.g. `checkDataRange: x holds values in [0, 255], outside the expected range [-1, 1]:
 *   8-bit pixels? Scale them with x / 127.5 - 1 …`; `NON_FINITE` when x holds NaN.
 *
 * @example
 * ```ts
 * const { x } = dataset.sampleBatch(64, { seed: 0 });
 * await checkDataRange(x); // throws for pixels in [0, 255]
 * ```
 */
export async function checkDataRange(
  x: tf.Tensor,
  range: DataRange = [-1, 1],
): Promise<{
  /** The smallest value of x. */
  min: number;
  /** The largest value of x. */
  max: number;
}> {
  const fn = 'checkDataRange';
  checkTensor(fn, 'x', x, { dtype: null });
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'x', `must have dtype float32 or int32, got ${x.dtype}`);
  }
  if (x.size === 0) throw new DifflibError('INVALID_ARGUMENT', fn, 'x', 'is empty: it holds no value to check');
  const expected = checkDataRangeOption(fn, 'range', range);
  const extremes = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]));
  let seen: [number, number];
  try {
    const host = await extremes.data();
    seen = [host[0]!, host[1]!];
  } finally {
    extremes.dispose();
  }
  const error = dataRangeError(fn, 'x', seen, expected, 'the expected range');
  if (error) throw error;
  return { min: seen[0], max: seen[1] };
}
