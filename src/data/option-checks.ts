import { DifflibError, describeValue } from '../errors';

/** Checks a count such as a batch size: an integer ≥ `min`. @internal */
export function checkInteger(fn: string, arg: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be ${what}, got ${describeValue(value)}`);
  }
  return value;
}

/** Checks an optional seed: absent, or an integer (mulberry32 uses its low 32 bits). @internal */
export function checkSeed(fn: string, arg: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be an integer, got ${describeValue(value)}`);
  }
  return value;
}

/** Checks an optional finite number ≥ 0 (a noise level, a radius). @internal */
export function checkNonNegative(fn: string, arg: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a finite number >= 0, got ${describeValue(value)}`);
  }
  return value;
}
