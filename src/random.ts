/**
 * mulberry32: a tiny, fast, seedable uniform generator on [0, 1) for host-side draws
 * (timestep indices), so a seeded run picks the same timesteps on every backend.
 * @internal
 */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}
