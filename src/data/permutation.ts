import { seededUniform } from '../random';

/**
 * A seeded uniformly random permutation of 0 … n−1 (Fisher–Yates on mulberry32), the
 * same on every platform for a given seed.
 * @internal
 */
export function seededPermutation(n: number, seed: number): Int32Array {
  const uniform = seededUniform(seed);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
  return order;
}

/** A fresh 32-bit seed for calls that were given none. @internal */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967296);
}
