import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  GaussianDiffusion,
  LossSecondMomentResampler,
  NoiseSchedule,
  UniformSampler,
  namedBetaSchedule,
  spaceTimesteps,
} from '../src/index';
import { useBackend } from './backends';

describe('named schedules', () => {
  it('scaled_linear runs from betaStart to betaEnd along a square-root line', () => {
    const b = namedBetaSchedule('scaled_linear', 1000);
    expect(b[0]).toBeCloseTo(0.00085, 15);
    expect(b[999]).toBeCloseTo(0.012, 15);
    // √β is linear: constant first differences.
    const d1 = Math.sqrt(b[1]!) - Math.sqrt(b[0]!);
    const d2 = Math.sqrt(b[999]!) - Math.sqrt(b[998]!);
    expect(d2).toBeCloseTo(d1, 12);
  });
  it('sigmoid is increasing, symmetric about its midpoint, and inside (betaStart, betaEnd)', () => {
    const b = namedBetaSchedule('sigmoid', 101, { betaStart: 1e-4, betaEnd: 0.02 });
    for (let i = 1; i < b.length; i++) expect(b[i]!).toBeGreaterThan(b[i - 1]!);
    expect(b[50]).toBeCloseTo((1e-4 + 0.02) / 2, 12);
    expect(b[0]! + b[100]!).toBeCloseTo(1e-4 + 0.02, 12);
    expect(b[0]!).toBeGreaterThan(1e-4);
    expect(b[100]!).toBeLessThan(0.02);
  });
  it('cosine keeps ᾱ close to the continuous cos² curve', () => {
    const alphaBar = NoiseSchedule.named('cosine', 1000).alphasCumprod();
    const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (const i of [0, 250, 500, 750, 990]) expect(alphaBar[i]).toBeCloseTo(f((i + 1) / 1000) / f(0), 10);
  });
});

describe('NoiseSchedule', () => {
  const base = NoiseSchedule.named('cosine', 1000);

  it('respacing keeps the marginals ᾱ at the kept steps', () => {
    const spaced = base.respace('ddim50');
    const full = base.alphasCumprod();
    const kept = spaced.alphasCumprod();
    spaced.timestepMap.forEach((t, j) => expect(kept[j]).toBeCloseTo(full[t]!, 14));
    expect(spaced.timestepMap).toEqual(spaceTimesteps(1000, 'ddim50'));
    expect(spaced.originalNumTimesteps).toBe(1000);
  });

  it('respacing twice composes: the map points into the original process', () => {
    const twice = base.respace('ddim100').respace('ddim50');
    const once = base.respace({ useTimesteps: spaceTimesteps(100, 'ddim50').map((j) => j * 10) });
    expect(twice.timestepMap).toEqual(once.timestepMap);
    twice.betas.forEach((b, i) => expect(b).toBeCloseTo(once.betas[i]!, 14));
  });

  it('respace takes section counts as { sectionCounts } (a bare array still means counts, deprecated, warned once)', () => {
    const spec = base.respace('10,20');
    expect(base.respace({ sectionCounts: [10, 20] }).timestepMap).toEqual(spec.timestepMap);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(base.respace([10, 20]).timestepMap).toEqual(spec.timestepMap);
      base.respace([3, 4]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/respace\(\{ sectionCounts: \[a, b, c\] \}\).*deprecated/);
    } finally {
      warn.mockRestore();
    }
    // useTimesteps keeps exactly the steps it lists.
    expect(base.respace({ useTimesteps: [10, 20] }).timestepMap).toEqual([10, 20]);
  });

  it('zero terminal SNR: the last SNR is 0, the first ᾱ is unchanged, and SNR still decreases', () => {
    const rescaled = base.rescaleZeroTerminalSnr();
    const snr = rescaled.snr();
    expect(snr[999]).toBe(0);
    expect(rescaled.betas[999]).toBe(1);
    expect(rescaled.alphasCumprod()[0]).toBeCloseTo(base.alphasCumprod()[0]!, 14);
    for (let i = 1; i < 1000; i++) expect(snr[i]!).toBeLessThan(snr[i - 1]!);
  });

  it('a GaussianDiffusion built from a schedule equals one built from its betas and useTimesteps', () => {
    const opts = { modelMeanType: 'epsilon', modelVarType: 'fixed_small', lossType: 'mse' } as const;
    const a = new GaussianDiffusion({ ...opts, schedule: base.respace('10,20') });
    const b = new GaussianDiffusion({ ...opts, betas: base.betas, useTimesteps: '10,20' });
    expect(a.timestepMap).toEqual(b.timestepMap);
    expect(Array.from(a.posteriorMeanCoef1)).toEqual(Array.from(b.posteriorMeanCoef1));
  });
});

describe('spaceTimesteps', () => {
  it('rounds half to even, as Python does', () => {
    // 10 steps, 5 kept: stride 9/4 = 2.25 → 0, 2.25, 4.5, 6.75, 9 → 0, 2, 4, 7, 9.
    expect(spaceTimesteps(10, '5')).toEqual([0, 2, 4, 7, 9]);
  });
  it('splits T unevenly with the first sections one longer', () => {
    // 10 = 4 + 3 + 3; one step per section keeps each section's start.
    expect(spaceTimesteps(10, [1, 1, 1])).toEqual([0, 4, 7]);
  });
  it('"ddimN" keeps range(0, T, stride)', () => {
    expect(spaceTimesteps(1000, 'ddim4')).toEqual([0, 250, 500, 750]);
  });
});

describe('timestep samplers', () => {
  beforeAll(() => useBackend('cpu'));

  it('a seed reproduces the draw', () => {
    const a = new UniformSampler(50).sample(16, { seed: 7 });
    const b = new UniformSampler(50).sample(16, { seed: 7 });
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    tf.dispose([a, b]);
  });

  it('the loss-second-moment sampler draws timesteps in proportion to their RMS loss', () => {
    const sampler = new LossSecondMomentResampler(4, { historyPerTerm: 2, uniformProb: 0 });
    // RMS losses 1, 1, 2, 4 → p = 1/8, 1/8, 2/8, 4/8.
    sampler.updateWithAllLosses([0, 0, 1, 1, 2, 2, 3, 3], [1, 1, 1, 1, 2, 2, 4, 4]);
    const { indices, weights, timesteps } = sampler.sample(8000, { seed: 1 });
    const counts = [0, 0, 0, 0];
    indices.forEach((i) => counts[i]!++);
    [1 / 8, 1 / 8, 2 / 8, 4 / 8].forEach((p, i) => expect(counts[i]! / 8000).toBeCloseTo(p, 1));
    // Importance weights 1/(T p) make the weighted mean of losses unbiased.
    const w = weights.dataSync();
    indices.forEach((i, b) => expect(w[b]).toBeCloseTo(1 / (4 * [1 / 8, 1 / 8, 2 / 8, 4 / 8][i]!), 5));
    tf.dispose([weights, timesteps]);
  });
});
