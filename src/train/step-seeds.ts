/**
 * The independent random streams of one training step: the timestep draw of
 * {@link TimestepSampler.sample}, ε of q(x_t | x_0), and the labels label dropout
 * replaces.
 * @internal
 */
export type SeedStream = 'timesteps' | 'noise' | 'labels';

const STREAM_IDS: Record<SeedStream, number> = { timesteps: 1, noise: 2, labels: 3 };

/**
 * A 32-bit seed for one random stream of one step, a hash of (seed, step, stream)
 * (the murmur3 finaliser over a running mix), so every step's draws depend only on the
 * trainer's seed and the step index: a resumed run draws exactly what an
 * uninterrupted one does, and no stream overlaps another.
 * @internal
 */
export function stepSeed(seed: number, step: number, stream: SeedStream): number {
  let h = seed >>> 0;
  for (const word of [Math.floor(step / 2 ** 32), step >>> 0, STREAM_IDS[stream]]) {
    h = Math.imul(h ^ word, 0x9e3779b1) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}
