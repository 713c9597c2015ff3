import { checkNumber } from '../validate';

/** An optional finite number ≥ 0 (a noise level, a radius), `fallback` when absent. @internal */
export function checkNonNegative(fn: string, arg: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : checkNumber(fn, arg, value, { min: 0 });
}
