import { beforeAll, describe, expect, it } from 'vitest';
import { eightGaussians, swissRoll } from '../../src/data';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

const N = 20_000;

describe('eightGaussians', () => {
  beforeAll(() => useBackend('cpu'));
  const ds = eightGaussians(N, { seed: 1 });
  const p = ds.data;

  it('is [n, 2] with labels 0–7, each mode drawn 1/8 of the time', () => {
    expect(ds.shape).toEqual([N, 2]);
    const counts = new Array(8).fill(0);
    ds.labels!.forEach((k) => counts[k]++);
    // Binomial std √(n·⅛·⅞) ≈ 47 points: 5σ ≈ 234.
    for (const c of counts) expect(Math.abs(c - N / 8)).toBeLessThan(234);
  });

  it('centres mode k at 0.8·(cos 2πk/8, sin 2πk/8) with std 0.05 per axis', () => {
    for (let k = 0; k < 8; k++) {
      const xs: number[] = [];
      const ys: number[] = [];
      ds.labels!.forEach((l, i) => {
        if (l === k) xs.push(p[2 * i]!), ys.push(p[2 * i + 1]!);
      });
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      const std = (a: number[]) => Math.sqrt(mean(a.map((v) => (v - mean(a)) ** 2)));
      // ~2500 points a mode: the mean's standard error is 0.05/50 = 0.001, the std's
      // 0.05/√5000 ≈ 0.0007; 5σ bounds.
      expect(Math.abs(mean(xs) - 0.8 * Math.cos((Math.PI * k) / 4))).toBeLessThan(0.005);
      expect(Math.abs(mean(ys) - 0.8 * Math.sin((Math.PI * k) / 4))).toBeLessThan(0.005);
      expect(Math.abs(std(xs) - 0.05)).toBeLessThan(0.0035);
      expect(Math.abs(std(ys) - 0.05)).toBeLessThan(0.0035);
    }
  });

  it('puts the data within the radius ± a few std, i.e. inside [−1, 1]²', () => {
    let meanRadius = 0;
    for (let i = 0; i < N; i++) meanRadius += Math.hypot(p[2 * i]!, p[2 * i + 1]!) / N;
    // E|c + σz| ≈ r + σ²/(2r) = 0.80156 for r = 0.8, σ = 0.05 (Rice mean, ν/σ = 16);
    // the radius's std is ≈ σ, so its mean's standard error is 0.00035: 5σ bound.
    expect(Math.abs(meanRadius - 0.80156)).toBeLessThan(0.0018);
    expect(Math.max(...p.map(Math.abs))).toBeLessThan(1);
  });

  it('scales with radius and std, and is deterministic under a seed', () => {
    const a = eightGaussians(100, { seed: 4, radius: 0.5, std: 0 });
    a.labels!.forEach((k, i) => {
      expect(a.data[2 * i]).toBeCloseTo(0.5 * Math.cos((Math.PI * k) / 4), 6);
      expect(a.data[2 * i + 1]).toBeCloseTo(0.5 * Math.sin((Math.PI * k) / 4), 6);
    });
    expect(eightGaussians(100, { seed: 4 }).data).toEqual(eightGaussians(100, { seed: 4 }).data);
    expect(eightGaussians(100, { seed: 4 }).data).not.toEqual(eightGaussians(100, { seed: 5 }).data);
  });

  it('refuses bad input', () => {
    expectDifflibError(() => eightGaussians(0), 'eightGaussians', 'n', 'INVALID_ARGUMENT');
    expectDifflibError(() => eightGaussians(10, { std: -1 }), 'eightGaussians', 'options.std', 'INVALID_ARGUMENT');
    expectDifflibError(() => eightGaussians(10, { radius: Infinity }), 'eightGaussians', 'options.radius', 'INVALID_ARGUMENT');
  });
});

describe('swissRoll', () => {
  const clean = swissRoll(N, { seed: 2, noise: 0 });
  const p = clean.data;

  it('lies on the spiral r = θ/4.5π, θ ∈ [1.5π, 4.5π], so in [1/3, 1] from the origin', () => {
    expect(clean.shape).toEqual([N, 2]);
    expect(clean.labels).toBeUndefined();
    for (let i = 0; i < N; i += 7) {
      const [x, y] = [p[2 * i]!, p[2 * i + 1]!];
      const r = Math.hypot(x, y);
      expect(r).toBeGreaterThanOrEqual(1 / 3 - 1e-6);
      expect(r).toBeLessThanOrEqual(1 + 1e-6);
      // The angle of the point is θ = 4.5π·r, mod 2π (float32 storage: ~1e-6 relative).
      const theta = 4.5 * Math.PI * r;
      expect(Math.abs(Math.atan2(Math.sin(theta - Math.atan2(y, x)), Math.cos(theta - Math.atan2(y, x))))).toBeLessThan(1e-4);
    }
  });

  it('spreads uniformly in θ: mean radius 2/3, and fills about [−0.67, 0.89] × [−0.78, 1]', () => {
    let meanRadius = 0;
    for (let i = 0; i < N; i++) meanRadius += Math.hypot(p[2 * i]!, p[2 * i + 1]!) / N;
    // r ~ U(1/3, 1): std (2/3)/√12 ≈ 0.19, standard error 0.0014; 5σ.
    expect(Math.abs(meanRadius - 2 / 3)).toBeLessThan(0.007);
    const xs = p.filter((_, i) => i % 2 === 0);
    const ys = p.filter((_, i) => i % 2 === 1);
    // Extremes of (θcosθ, θsinθ)/4.5π over θ ∈ [1.5π, 4.5π] (numpy on a 2·10⁶ grid):
    // max x 0.8917 (θ ≈ 4.03π), min x −0.6704 (θ ≈ 3.03π), max y 1 (θ = 4.5π), min y
    // −0.7810 (θ ≈ 3.53π). The curve is flat at each, so 20 000 draws come within 1e-3.
    expect(Math.max(...xs)).toBeCloseTo(0.8917, 2);
    expect(Math.min(...xs)).toBeCloseTo(-0.6704, 2);
    expect(Math.max(...ys)).toBeCloseTo(1, 2);
    expect(Math.min(...ys)).toBeCloseTo(-0.781, 2);
  });

  it('adds N(0, noise²·I) on top of the same clean points, reproducibly', () => {
    const noisy = swissRoll(N, { seed: 2, noise: 0.1 });
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < 2 * N; i++) {
      const d = noisy.data[i]! - p[i]!;
      sum += d;
      sq += d * d;
    }
    // 40 000 N(0, 0.01) draws: mean's standard error 0.0005, std's 0.00035; 5σ.
    expect(Math.abs(sum / (2 * N))).toBeLessThan(0.0025);
    expect(Math.abs(Math.sqrt(sq / (2 * N)) - 0.1)).toBeLessThan(0.002);
    expect(swissRoll(50, { seed: 3 }).data).toEqual(swissRoll(50, { seed: 3 }).data);
    expect(swissRoll(50, { seed: 3 }).data).not.toEqual(swissRoll(50, { seed: 4 }).data);
  });

  it('refuses bad input', () => {
    expectDifflibError(() => swissRoll(1.5), 'swissRoll', 'n', 'INVALID_ARGUMENT');
    expectDifflibError(() => swissRoll(10, { noise: Number.NaN }), 'swissRoll', 'options.noise', 'INVALID_ARGUMENT');
    expectDifflibError(() => swissRoll(10, { seed: '1' as never }), 'swissRoll', 'options.seed', 'INVALID_ARGUMENT');
  });
});
