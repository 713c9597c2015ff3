import { expect } from 'vitest';

/**
 * Tolerance for comparing a float32 computation with a float64 reference:
 * |actual − expected| ≤ atol + rtol·|expected| element-wise.
 */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/**
 * Asserts closeness element-wise and, on failure, reports the worst element with
 * its index, both values and the bound it broke.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  label: string,
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) !== Number.isNaN(e)) {
      worst = i;
      worstExcess = Infinity;
      break;
    }
    const excess = Math.abs(a - e) / (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worstExcess > 1) {
    const a = actual[worst]!;
    const e = expected[worst]!;
    expect.fail(
      `${label}: element ${worst} is ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(3)} > ` +
        `atol ${tol.atol} + rtol ${tol.rtol}·|expected|; ${worstExcess.toFixed(2)}× the bound)`,
    );
  }
}
