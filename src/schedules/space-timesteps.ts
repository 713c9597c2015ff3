import { DifflibError, describeValue } from '../errors';
import { checkNumTimesteps } from './validate';

/**
 * Which timesteps of an original T-step process to keep, with improved-diffusion's
 * exact semantics (`respace.space_timesteps`).
 *
 * - `"ddimN"`: the smallest integer stride i ≥ 1 with |range(0, T, i)| = N, as the DDIM
 *   paper spaces steps; it is an error when no integer stride gives exactly N.
 * - `"a,b,c"` or `[a, b, c]`: T is cut into equal sections (the first T mod k get one
 *   extra step) and section j keeps `a_j` steps at rounded fractional strides
 *   (size−1)/(a_j−1) from its start. Rounding is Python's: half to even.
 *
 * @param numTimesteps - T of the original process.
 * @param sectionCounts - `"ddimN"`, a comma-separated string of counts, or the counts.
 * @returns the kept timesteps, sorted ascending, without repeats.
 *
 * @example
 * ```ts
 * spaceTimesteps(1000, 'ddim50');   // [0, 20, 40, ..., 980]
 * spaceTimesteps(300, '10,15,20');  // 10 steps in [0,100), 15 in [100,200), 20 in [200,300)
 * ```
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | readonly number[]): number[] {
  const fn = 'spaceTimesteps';
  checkNumTimesteps(fn, 'numTimesteps', numTimesteps);
  if (typeof sectionCounts === 'string' && sectionCounts.startsWith('ddim')) {
    return ddimSpacing(fn, numTimesteps, sectionCounts);
  }
  const counts = parseSectionCounts(fn, sectionCounts);
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  const steps = new Set<number>();
  let startIdx = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) {
      throw new DifflibError(
        'UNSATISFIABLE',
        fn,
        'sectionCounts',
        `asks for ${count} steps in section ${i}, which only has ${size} of the ${numTimesteps} timesteps`,
      );
    }
    const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
    // Accumulated, not multiplied: the reference adds the stride repeatedly, and the
    // rounding of the running sum decides which step is kept.
    let curIdx = 0;
    for (let k = 0; k < count; k++) {
      steps.add(startIdx + roundHalfEven(curIdx));
      curIdx += fracStride;
    }
    startIdx += size;
  });
  if (steps.size === 0) {
    throw new DifflibError('UNSATISFIABLE', fn, 'sectionCounts', `keeps no timestep at all, got ${describeValue(sectionCounts)}`);
  }
  return [...steps].sort((a, b) => a - b);
}

function ddimSpacing(fn: string, numTimesteps: number, spec: string): number[] {
  const desired = spec.slice('ddim'.length);
  if (!/^\d+$/.test(desired)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'sectionCounts', `must be "ddimN" with N a positive integer, got ${describeValue(spec)}`);
  }
  const desiredCount = Number(desired);
  for (let stride = 1; stride < numTimesteps; stride++) {
    if (Math.ceil(numTimesteps / stride) === desiredCount) {
      const steps: number[] = [];
      for (let t = 0; t < numTimesteps; t += stride) steps.push(t);
      return steps;
    }
  }
  throw new DifflibError(
    'UNSATISFIABLE',
    fn,
    'sectionCounts',
    `${describeValue(spec)} cannot be met: no integer stride gives exactly ${desiredCount} of ${numTimesteps} steps`,
  );
}

function parseSectionCounts(fn: string, sectionCounts: unknown): number[] {
  const raw: unknown[] =
    typeof sectionCounts === 'string'
      ? sectionCounts.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : s))
      : Array.isArray(sectionCounts)
        ? sectionCounts
        : [sectionCounts];
  if (raw.length === 0 || raw.some((c) => typeof c !== 'number' || !Number.isInteger(c) || c < 0)) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'sectionCounts',
      `must be "ddimN", a comma-separated list of non-negative integers, or an array of them, got ${describeValue(sectionCounts)}`,
    );
  }
  return raw as number[];
}

/** Python 3's `round(x)`: nearest integer, ties to the even one. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac > 0.5) return floor + 1;
  if (frac < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
