import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from './errors';

// The one validation module (in the manner of tfjs-core's util.assert): every check runs
// before any tensor is made, so a refused call leaks nothing, and throws a DifflibError
// naming the function, the argument, what was expected and what was given. One rule per
// kind of value: seeds, integers, numbers, functions, tensors, model outputs.

/** The largest seed + 1: seeds are uint32, what every seeded generator here consumes. */
const SEED_LIMIT = 2 ** 32;

/**
 * An optional seed: absent, or an integer in [0, 2^32) — the one rule for every `seed`
 * option (tfjs' generators and difflib's host PRNG both take it as is).
 * @internal
 */
export function checkSeed(fn: string, arg: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= SEED_LIMIT) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be an integer in [0, 2^32), got ${describeValue(value)}`);
  }
  return value;
}

/** An integer in [min, max] (a count, a size, an index). @internal */
export function checkInteger(fn: string, arg: string, value: unknown, { min = -Infinity, max = Infinity }: { min?: number; max?: number } = {}): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Infinity ? (min === 1 ? 'a positive integer' : min === -Infinity ? 'an integer' : `an integer >= ${min}`) : `an integer in [${min}, ${max}]`;
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be ${range}, got ${describeValue(value)}`);
  }
  return value;
}

/** A finite number in [min, max] (or above `min` when `exclusiveMin`). @internal */
export function checkNumber(
  fn: string,
  arg: string,
  value: unknown,
  { min = -Infinity, max = Infinity, exclusiveMin = false }: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): number {
  const inRange = typeof value === 'number' && Number.isFinite(value) && (exclusiveMin ? value > min : value >= min) && value <= max;
  if (!inRange) {
    const low = min === -Infinity ? '' : exclusiveMin ? ` > ${min}` : ` >= ${min}`;
    const high = max === Infinity ? '' : ` <= ${max}`;
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a finite number${low}${low && high ? ' and' : ''}${high}, got ${describeValue(value)}`);
  }
  return value as number;
}

/** A function; `signature` says what it is called with, for the message. @internal */
export function checkFunction(fn: string, arg: string, value: unknown, signature: string): void {
  if (typeof value !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a function ${signature}, got ${describeValue(value)}`);
  }
}

/**
 * What a model (or a guidance function) returned: a tensor of exactly `expected`. The
 * one check of model outputs; `why` explains the expected shape (e.g. the 2C channels of
 * learned variances).
 * @internal
 */
export function checkModelOutput(fn: string, arg: string, output: unknown, expected: readonly number[], why = ''): tf.Tensor {
  if (!(output instanceof tf.Tensor) || output.isDisposed || !tf.util.arraysEqual(output.shape, expected as number[])) {
    const got = output instanceof tf.Tensor ? (output.isDisposed ? 'a disposed tensor' : `shape ${shapeString(output.shape)}`) : describeValue(output);
    throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must have shape ${shapeString(expected)}${why}, got ${got}`);
  }
  return output;
}

/** A live tensor (of `dtype`, float32 by default; null for any) with rank ≥ `minRank`. @internal */
export function checkTensor(
  fn: string,
  arg: string,
  value: unknown,
  { minRank = 0, dtype = 'float32' }: { minRank?: number; dtype?: tf.DataType | null } = {},
): tf.Tensor {
  if (!(value instanceof tf.Tensor)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a tf.Tensor, got ${describeValue(value)}`);
  }
  if (value.isDisposed) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'is a disposed tensor');
  }
  if (value.rank < minRank) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      arg,
      `must have rank >= ${minRank} (batch first), got shape ${shapeString(value.shape)}`,
    );
  }
  if (dtype !== null && value.dtype !== dtype) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must have dtype ${dtype}, got ${value.dtype}`);
  }
  return value;
}

/** Checks that two tensors have identical shapes. @internal */
export function checkSameShape(fn: string, argA: string, a: tf.Tensor, argB: string, b: tf.Tensor): void {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      argB,
      `has shape ${shapeString(b.shape)} but ${argA} has shape ${shapeString(a.shape)}`,
    );
  }
}

/** `[2,4,4,3]` for messages. @internal */
export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
