import { DifflibError, describeValue } from '../errors';
import { checkInteger } from '../validate';

/**
 * Checks a user-facing step count: a positive integer.
 * @internal
 */
export function checkNumTimesteps(fn: string, arg: string, value: unknown): number {
  return checkInteger(fn, arg, value, { min: 1 });
}

/**
 * Copies betas into a Float64Array and checks what the diffusion process needs of
 * them: a non-empty 1-D list with every entry finite and in (0, 1].
 * @internal
 */
export function checkBetas(fn: string, arg: string, betas: unknown): Float64Array {
  if (!Array.isArray(betas) && !(ArrayBuffer.isView(betas) && !(betas instanceof DataView))) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be an array of numbers, got ${describeValue(betas)}`);
  }
  const values = Float64Array.from(betas as ArrayLike<number>);
  if (values.length === 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'must hold at least one beta, got an empty schedule');
  }
  for (let i = 0; i < values.length; i++) {
    const b = values[i]!;
    if (!Number.isFinite(b) || !(b > 0 && b <= 1)) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        arg,
        `must lie in (0, 1] and be finite, got ${describeValue((betas as ArrayLike<unknown>)[i])} at index ${i}`,
      );
    }
  }
  return values;
}
