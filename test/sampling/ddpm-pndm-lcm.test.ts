// DDPMScheduler, PNDMScheduler and LCMScheduler beyond the diffusers cases
// (test/sampling/schedulers.test.ts): bad input refused before any tensor, the history
// PNDM keeps, and the paths the fixtures do not cover checked by properties: on Gaussian
// data N(0, s²) the exact ε-predictor makes every step linear, x̂_0 = g_t·x_t with
// g_t = √ᾱ_t s²/(ᾱ_t s² + 1 − ᾱ_t), so the variance a sampler must reach is known.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DDPMScheduler, LCMScheduler, PNDMScheduler, schedulerFromConfig, type DDPMSchedulerOptions, type Scheduler } from '../../src/index';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';

beforeAll(() => useBackend('cpu'));

const S2 = 0.25;
/** 16384 values: the variance estimate's relative standard error is √(2/n) ≈ 1.1%. */
const SHAPE = [16, 16, 16, 4];

/** ε̂(x_t) = √(1 − ᾱ_t)·x_t/(ᾱ_t s² + 1 − ᾱ_t), the exact ε-predictor for data N(0, s²I). */
function exactEps(x: tf.Tensor, alphaBar: number): tf.Tensor {
  return tf.mul(x, Math.sqrt(1 - alphaBar) / (alphaBar * S2 + 1 - alphaBar));
}

/** x̂_0 = g·x_t for the exact predictor. */
const gain = (a: number) => (Math.sqrt(a) * S2) / (a * S2 + 1 - a);

function variance(x: tf.Tensor): number {
  const v = x.dataSync();
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return s / v.length;
}

/** Runs a sampling loop from x_T ~ N(0, I) (seeded), with `model` giving the step's output; returns the final sample. */
function sample(s: Scheduler, model: (x: tf.Tensor, t: number) => tf.Tensor, seed = 1, shape = SHAPE): tf.Tensor {
  let x = tf.randomNormal(shape, 0, 1, 'float32', seed);
  Array.from(s.timesteps).forEach((t, i) => {
    const out = model(x, t);
    const r = s.step(out, t, x, { seed: seed * 10_000 + i });
    tf.dispose([x, out, ...Object.values(r).filter((v) => v instanceof tf.Tensor && v !== r.prevSample)]);
    x = r.prevSample;
  });
  return x;
}

/** The DDPM ancestral chain's exact final variance (float64) for the exact predictor, from Var x_T = 1. */
function ddpmPredictedVariance(s: DDPMScheduler, noiseVariance: (t: number, prev: number) => number): number {
  const ts = Array.from(s.timesteps);
  let v = 1;
  ts.forEach((t, i) => {
    const prev = i + 1 < ts.length ? ts[i + 1]! : -1;
    const a = s.alphasCumprod[t]!;
    const ap = prev >= 0 ? s.alphasCumprod[prev]! : 1;
    const beta = 1 - a / ap;
    const m = ((Math.sqrt(ap) * beta) / (1 - a)) * gain(a) + (Math.sqrt(1 - beta) * (1 - ap)) / (1 - a);
    v = m * m * v + (t > 0 ? noiseVariance(t, prev) : 0);
  });
  return v;
}

/** β̃_t and β'_t of a DDPM step t → prev, and the exact reverse variance β̃_t + c_0²·Var(x_0 | x_t). */
function ddpmVariances(s: DDPMScheduler, t: number, prev: number): { small: number; large: number; exact: number } {
  const a = s.alphasCumprod[t]!;
  const ap = prev >= 0 ? s.alphasCumprod[prev]! : 1;
  const large = 1 - a / ap;
  const small = ((1 - ap) / (1 - a)) * large;
  const c0 = (Math.sqrt(ap) * large) / (1 - a);
  return { small, large, exact: small + c0 * c0 * ((S2 * (1 - a)) / (a * S2 + 1 - a)) };
}

const ddpm = (options: DDPMSchedulerOptions, n: number) => {
  const s = new DDPMScheduler({ clipSample: false, ...options });
  s.setTimesteps(n);
  return s;
};

describe('DDPMScheduler', () => {
  const epsModel = (s: DDPMScheduler) => (x: tf.Tensor, t: number) => exactEps(x, s.alphasCumprod[t]!);

  it.each([
    ['fixed_large', 1000],
    ['fixed_large', 50],
    ['fixed_small', 50],
  ] as const)('%s in %i steps samples the variance the exact linear chain predicts from the exact ε-predictor', (varianceType, n) => {
    const s = ddpm({ varianceType }, n);
    const pick = varianceType === 'fixed_large' ? 'large' : 'small';
    const predicted = ddpmPredictedVariance(s, (t, prev) => ddpmVariances(s, t, prev)[pick]);
    // 50 steps: fixed_large overshoots s² by 7%, fixed_small undershoots by 21%: the two are told apart.
    const x = sample(s, epsModel(s));
    const measured = variance(x);
    x.dispose();
    expect(Math.abs(measured / predicted - 1)).toBeLessThan(0.04);
    // At 1000 steps the chain is close to the reverse process: the variance approaches s².
    if (n === 1000) expect(Math.abs(measured / S2 - 1)).toBeLessThan(0.05);
  });

  it('learned: given the exact reverse variance as its extra channels, 10 steps sample N(0, s²)', () => {
    const s = ddpm({ varianceType: 'learned' }, 10);
    const ts = Array.from(s.timesteps);
    const model = (x: tf.Tensor, t: number) => {
      const i = ts.indexOf(t);
      const v = ddpmVariances(s, t, i + 1 < ts.length ? ts[i + 1]! : -1).exact;
      return tf.tidy(() => tf.concat([exactEps(x, s.alphasCumprod[t]!), tf.fill(x.shape, v)], -1));
    };
    const x = sample(s, model);
    const measured = variance(x);
    x.dispose();
    // Exact in distribution but for the last step's x̂_0 = E[x_0 | x_0 + tiny noise] (−0.04%).
    expect(Math.abs(measured / S2 - 1)).toBeLessThan(0.04);
  });

  it('learned_range at v = −1 is fixed_small and at v = +1 fixed_large; fixed_small_log is fixed_small', () => {
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 3);
    const eps = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 4);
    const noise = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 5);
    const run = (varianceType: DDPMSchedulerOptions['varianceType'], v?: number) => {
      const s = ddpm({ varianceType, betaSchedule: 'squaredcos_cap_v2' }, 10);
      const out = v === undefined ? eps.clone() : tf.concat([eps, tf.fill(eps.shape, v)], -1);
      const r = s.step(out, 300, x, { noise });
      const values = r.prevSample.dataSync();
      tf.dispose([out, r.prevSample, r.predOriginalSample!]);
      return values;
    };
    const small = run('fixed_small');
    const large = run('fixed_large');
    expect(Math.max(...small.map((a, i) => Math.abs(a - large[i]!)))).toBeGreaterThan(0.01);
    for (const [got, want] of [
      [run('learned_range', -1), small],
      [run('learned_range', 1), large],
      [run('fixed_small_log'), small],
    ] as const) {
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i]!)));
    }
    tf.dispose([x, eps, noise]);
  });

  it('trained betas equal to the linear schedule give the same tables and steps, bit for bit', () => {
    const named = ddpm({}, 20);
    const trained = ddpm({ trainedBetas: Array.from(named.betas) }, 20);
    expect(Array.from(trained.alphasCumprod)).toEqual(Array.from(named.alphasCumprod));
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 6);
    const noise = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 7);
    const a = named.step(x, 450, x, { noise });
    const b = trained.step(x, 450, x, { noise });
    expect(Array.from(b.prevSample.dataSync())).toEqual(Array.from(a.prevSample.dataSync()));
    tf.dispose([x, noise, a.prevSample, a.predOriginalSample!, b.prevSample, b.predOriginalSample!]);
  });

  it('spaces timesteps as diffusers does; steps_offset shifts only leading ones', () => {
    expect(Array.from(ddpm({ stepsOffset: 1 }, 4).timesteps)).toEqual([751, 501, 251, 1]);
    // numpy: round(arange(1000, 0, -62.5)) rounds halves to even (937.5 → 938, 812.5 → 812).
    expect(Array.from(ddpm({ timestepSpacing: 'trailing', stepsOffset: 1 }, 16).timesteps).slice(0, 5)).toEqual([999, 937, 874, 811, 749]);
    expect(Array.from(ddpm({ timestepSpacing: 'linspace', stepsOffset: 1 }, 4).timesteps)).toEqual([999, 666, 333, 0]);
  });

  it('the previous timestep is the next entry of timesteps: after the last (t > 0) the step draws noise toward ᾱ = 1', () => {
    // Leading with stepsOffset 1 ends at t = 1: x_{−1} = x̂_0 + √(clamped 0)·z = x̂_0.
    const s = ddpm({ stepsOffset: 1 }, 4);
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 8);
    const noise = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 9);
    const r = s.step(x, 1, x, { noise });
    const prev = r.prevSample.dataSync();
    const x0 = r.predOriginalSample!.dataSync();
    for (let i = 0; i < prev.length; i++) expect(Math.abs(prev[i]! - x0[i]!)).toBeLessThan(1e-6);
    tf.dispose([x, noise, r.prevSample, r.predOriginalSample!]);
  });

  it('zero terminal SNR: ᾱ at T − 1 is 0 and a v-prediction step there is finite', () => {
    const s = ddpm({ rescaleBetasZeroSnr: true, predictionType: 'v_prediction', timestepSpacing: 'trailing' }, 10);
    expect(s.alphasCumprod[999]).toBe(0);
    const v = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 10);
    const r = s.step(v, 999, v, { seed: 1 });
    // x̂_0 = √0·x − √1·v = −v.
    expect(Array.from(r.predOriginalSample!.dataSync())).toEqual(Array.from(v.dataSync(), (a) => -a));
    expect(r.prevSample.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([v, r.prevSample, r.predOriginalSample!]);
  });

  it('a step leaks nothing and reads nothing back', () => {
    const s = ddpm({ varianceType: 'learned_range', thresholding: true }, 10);
    const x = tf.randomNormal([2, 4, 4, 3]);
    const out = tf.randomNormal([2, 4, 4, 6]);
    const before = tf.memory().numTensors;
    let r: ReturnType<DDPMScheduler['step']> | undefined;
    expect(countReadbacks(() => (r = s.step(out, 900, x, { seed: 2 })))).toBe(0);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, out, r!.prevSample, r!.predOriginalSample!]);
  });

  it('refuses bad input before any tensor is made', () => {
    expectDifflibError(() => new DDPMScheduler({ varianceType: 'fixed_large_log' as never }), 'DDPMScheduler', 'options.varianceType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DDPMScheduler({ varianceType: 'learned_large' as never }), 'DDPMScheduler', 'options.varianceType');
    expectDifflibError(() => new DDPMScheduler({ clipSampleRange: 0 }), 'DDPMScheduler', 'options.clipSampleRange');
    expectDifflibError(() => new DDPMScheduler({ trainedBetas: [0.1, 0.2] }), 'DDPMScheduler', 'options.trainedBetas');
    expectDifflibError(() => schedulerFromConfig({ _class_name: 'DDPMScheduler', variance_type: 'fixed_large_log' }), 'schedulerFromConfig', 'config.variance_type');
    const s = new DDPMScheduler({ numTrainTimesteps: 100 });
    const x = tf.zeros([2, 4, 4, 3]);
    expectDifflibError(() => s.step(x, 90, x), 'DDPMScheduler.step', 'this', 'UNSATISFIABLE');
    for (const n of [0, 101]) expectDifflibError(() => s.setTimesteps(n), 'DDPMScheduler.setTimesteps', 'numInferenceSteps');
    s.setTimesteps(10);
    expectDifflibError(() => s.step(x, 95, x), 'DDPMScheduler.step', 't', 'OUT_OF_RANGE');
    const doubled = tf.zeros([2, 4, 4, 6]);
    expectDifflibError(() => s.step(doubled, 90, x), 'DDPMScheduler.step', 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(x, 90, x, { eta: 1 }), 'DDPMScheduler.step', 'options.eta', 'UNKNOWN_OPTION');
    expectDifflibError(() => s.step(x, 90, x, { noise: doubled }), 'DDPMScheduler.step', 'options.noise', 'SHAPE_MISMATCH');
    const learned = new DDPMScheduler({ numTrainTimesteps: 100, varianceType: 'learned_range' });
    learned.setTimesteps(10);
    const e = expectDifflibError(() => learned.step(x, 90, x), 'DDPMScheduler.step', 'modelOutput', 'SHAPE_MISMATCH');
    expect(e.message).toContain('[2,4,4,6]');
    tf.dispose([x, doubled]);
  });
});

describe('PNDMScheduler', () => {
  /** Final/initial ratio of the exact probability-flow ODE from t_0 to ᾱ = 1 for data N(0, s²). */
  const odeGain = (a: number) => Math.sqrt(S2 / (a * S2 + 1 - a));

  it.each([
    ['Runge–Kutta warm-up then PLMS', false],
    ['PLMS only', true],
  ] as const)('%s in 50 steps follows the exact ODE of Gaussian data (x_0 = x_T·s/σ_{t_0}, per element)', (_, skipPrkSteps) => {
    const s = new PNDMScheduler({ skipPrkSteps, setAlphaToOne: true });
    s.setTimesteps(50);
    const xT = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 11);
    let x = xT.clone();
    for (const t of Array.from(s.timesteps)) {
      const eps = exactEps(x, s.alphasCumprod[t]!);
      const r = s.step(eps, t, x);
      tf.dispose([x, eps]);
      x = r.prevSample;
    }
    const k = odeGain(s.alphasCumprod[s.timesteps[0]!]!);
    const got = x.dataSync();
    const start = xT.dataSync();
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! / (k * start[i]!) - 1));
    // PLMS is off by 0.11% here (float64 emulation); second-order Adams–Bashforth throughout would be 0.5%, DDIM 5.5%.
    expect(worst).toBeLessThan(2.5e-3);
    tf.dispose([x, xT]);
    s.dispose();
  });

  it('builds the PRK and PLMS timesteps of the diffusers cases, and trailing ones', () => {
    const file = JSON.parse(readFileSync(new URL('../fixtures/reference/schedulers/pndm.json', import.meta.url), 'utf8')) as {
      cases: { config: Record<string, unknown>; inputs: { num_inference_steps: number }; outputs: Record<string, { data: number[] }> }[];
    };
    for (const c of file.cases) {
      const s = schedulerFromConfig({ _class_name: 'PNDMScheduler', ...c.config }) as PNDMScheduler;
      s.setTimesteps(c.inputs.num_inference_steps);
      expect(Array.from(s.prkTimesteps)).toEqual(c.outputs.prk_timesteps!.data);
      expect(Array.from(s.plmsTimesteps)).toEqual(c.outputs.plms_timesteps!.data);
      expect(s.finalAlphaCumprod).toBe(c.outputs.final_alpha_cumprod!.data[0]);
    }
    // trailing: round(arange(1000, 0, −100)) − 1, ascending; the warm-up's half step is 100 // 2.
    const trailing = new PNDMScheduler({ timestepSpacing: 'trailing' });
    trailing.setTimesteps(10);
    expect(Array.from(trailing.prkTimesteps)).toEqual([999, 949, 949, 899, 899, 849, 849, 799, 799, 749, 749, 699]);
    expect(Array.from(trailing.plmsTimesteps)).toEqual([699, 599, 499, 399, 299, 199, 99]);
    const plms = new PNDMScheduler({ timestepSpacing: 'trailing', skipPrkSteps: true });
    plms.setTimesteps(4);
    expect(Array.from(plms.timesteps)).toEqual([999, 749, 749, 499, 249]);
  });

  it('holds at most 4 model outputs, a sample and a sum between steps, and frees them on setTimesteps and dispose', () => {
    const s = new PNDMScheduler();
    s.setTimesteps(10);
    const base = tf.memory().numTensors;
    let x = tf.randomNormal([2, 4, 4, 3]);
    let most = 0;
    for (const t of Array.from(s.timesteps).slice(0, 16)) {
      const eps = tf.mul(x, 0.1);
      const r = s.step(eps, t, x);
      tf.dispose([x, eps]);
      x = r.prevSample;
      most = Math.max(most, tf.memory().numTensors - base - 1);
    }
    expect(most).toBeGreaterThanOrEqual(4);
    expect(most).toBeLessThanOrEqual(6);
    s.setTimesteps(10);
    expect(tf.memory().numTensors).toBe(base + 1);
    const r = s.step(x, 900, x);
    expect(r.phase).toBe('prk');
    s.dispose();
    expect(tf.memory().numTensors).toBe(base + 2);
    tf.dispose([x, r.prevSample]);
  });

  it('refuses bad input before any tensor is made', () => {
    expectDifflibError(() => new PNDMScheduler({ predictionType: 'sample' as never }), 'PNDMScheduler', 'options.predictionType');
    expectDifflibError(() => new PNDMScheduler({ stepsOffset: -1 }), 'PNDMScheduler', 'options.stepsOffset');
    const s = new PNDMScheduler();
    expectDifflibError(() => s.setTimesteps(3), 'PNDMScheduler.setTimesteps', 'numInferenceSteps');
    expectDifflibError(() => s.setTimesteps(1001), 'PNDMScheduler.setTimesteps', 'numInferenceSteps');
    const x = tf.zeros([2, 4, 4, 3]);
    expectDifflibError(() => s.step(x, 900, x), 'PNDMScheduler.step', 'this', 'UNSATISFIABLE');
    s.setTimesteps(10);
    expectDifflibError(() => s.step(x, 850, x), 'PNDMScheduler.step', 't', 'OUT_OF_RANGE');
    expectDifflibError(() => s.step(x, 901, x), 'PNDMScheduler.step', 't', 'OUT_OF_RANGE');
    const doubled = tf.zeros([2, 4, 4, 6]);
    expectDifflibError(() => s.step(x, 900, x, { order: 2 }), 'PNDMScheduler.step', 'options.order', 'UNKNOWN_OPTION');
    expectDifflibError(() => s.step(doubled, 900, x), 'PNDMScheduler.step', 'modelOutput', 'SHAPE_MISMATCH');
    tf.dispose(s.step(x, 900, x).prevSample);
    expectDifflibError(() => s.step(x, 800, x), 'PNDMScheduler.step', 't', 'OUT_OF_RANGE');
    const other = tf.zeros([1, 4, 4, 3]);
    expectDifflibError(() => s.step(other, 850, other), 'PNDMScheduler.step', 'modelOutput', 'SHAPE_MISMATCH');
    s.dispose();
    const one = new PNDMScheduler({ skipPrkSteps: true });
    one.setTimesteps(1);
    tf.dispose(one.step(x, 0, x).prevSample);
    expectDifflibError(() => one.step(x, 0, x), 'PNDMScheduler.step', 't', 'UNSATISFIABLE');
    one.dispose();
    tf.dispose([x, other, doubled]);
  });
});

describe('LCMScheduler', () => {
  it('takes the N timesteps from the original schedule by index', () => {
    const s = new LCMScheduler();
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([999, 759, 499, 259]);
    s.setTimesteps(50);
    expect(Array.from(s.timesteps)).toEqual(Array.from({ length: 50 }, (_, i) => 999 - 20 * i));
    const t100 = new LCMScheduler({ numTrainTimesteps: 100, originalInferenceSteps: 30 });
    t100.setTimesteps(7); // k = 3; indices floor(i·30/7) = 0, 4, 8, 12, 17, 21, 25
    expect(Array.from(t100.timesteps)).toEqual([89, 77, 65, 53, 38, 26, 14]);
  });

  it('reaches the variance of its linear chain on Gaussian data (consistency estimate, re-noised)', () => {
    const s = new LCMScheduler({ timestepScaling: 0.001 }); // c_skip is not negligible at this scaling (0.2 at t = 999)
    s.setTimesteps(4);
    const ts = Array.from(s.timesteps);
    let predicted = 1;
    ts.forEach((t, i) => {
      const a = s.alphasCumprod[t]!;
      const tau = t * 0.001;
      const m = (tau / Math.sqrt(tau * tau + 0.25)) * gain(a) + 0.25 / (tau * tau + 0.25);
      predicted = m * m * predicted;
      if (i + 1 < ts.length) predicted = s.alphasCumprod[ts[i + 1]!]! * predicted + 1 - s.alphasCumprod[ts[i + 1]!]!;
    });
    const x = sample(s, (x, t) => exactEps(x, s.alphasCumprod[t]!));
    const measured = variance(x);
    x.dispose();
    expect(Math.abs(measured / predicted - 1)).toBeLessThan(0.04);
  });

  it('zero terminal SNR with v-prediction: at t = 999 (ᾱ = 0) x̂_0 = −v and the step is finite', () => {
    const s = new LCMScheduler({ rescaleBetasZeroSnr: true, predictionType: 'v_prediction' });
    expect(s.alphasCumprod[999]).toBe(0);
    s.setTimesteps(2);
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 12);
    const v = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 13);
    const r = s.step(v, 999, x, { seed: 3 });
    const tau = Math.fround(999 * 10);
    const denom = Math.fround(Math.fround(tau * tau) + 0.25);
    const cSkip = Math.fround(0.25 / denom);
    const cOut = Math.fround(tau / Math.fround(Math.sqrt(denom)));
    const got = r.denoised.dataSync();
    const xs = x.dataSync();
    const vs = v.dataSync();
    for (let i = 0; i < got.length; i++) {
      const want = cOut * -vs[i]! + cSkip * xs[i]!;
      expect(Math.abs(got[i]! - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
    }
    expect(r.prevSample.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([x, v, r.prevSample, r.denoised]);
  });

  it('clips or thresholds x̂_0: (denoised − c_skip·x)/c_out stays in range', () => {
    for (const options of [{ clipSample: true, clipSampleRange: 0.5 }, { thresholding: true, sampleMaxValue: 3 }]) {
      const s = new LCMScheduler({ predictionType: 'sample', ...options });
      s.setTimesteps(1);
      const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 14);
      const out = tf.randomNormal([2, 4, 4, 3], 0, 4, 'float32', 15);
      const r = s.step(out, 999, x);
      const tau = 9990;
      const cSkip = 0.25 / (tau * tau + 0.25);
      const cOut = tau / Math.sqrt(tau * tau + 0.25);
      const xs = x.dataSync();
      const x0 = Array.from(r.denoised.dataSync(), (d, i) => (d - cSkip * xs[i]!) / cOut);
      const limit = 'clipSampleRange' in options ? 0.5 : 1;
      expect(Math.max(...x0.map(Math.abs))).toBeLessThanOrEqual(limit * (1 + 1e-6));
      expect(Math.max(...x0.map(Math.abs))).toBeGreaterThan(limit * 0.9);
      // One step: no noise, the output is the consistency estimate (a distinct tensor).
      expect(r.prevSample).not.toBe(r.denoised);
      expect(Array.from(r.prevSample.dataSync())).toEqual(Array.from(r.denoised.dataSync()));
      tf.dispose([x, out, r.prevSample, r.denoised]);
    }
  });

  it('refuses bad input before any tensor is made', () => {
    expectDifflibError(() => new LCMScheduler({ originalInferenceSteps: 1001 }), 'LCMScheduler', 'options.originalInferenceSteps');
    expectDifflibError(() => new LCMScheduler({ originalInferenceSteps: 0 }), 'LCMScheduler', 'options.originalInferenceSteps');
    expectDifflibError(() => new LCMScheduler({ timestepScaling: -1 }), 'LCMScheduler', 'options.timestepScaling');
    const s = new LCMScheduler();
    for (const n of [0, 51]) expectDifflibError(() => s.setTimesteps(n), 'LCMScheduler.setTimesteps', 'numInferenceSteps');
    const x = tf.zeros([2, 4, 4, 3]);
    expectDifflibError(() => s.step(x, 999, x), 'LCMScheduler.step', 'this', 'UNSATISFIABLE');
    s.setTimesteps(4);
    expectDifflibError(() => s.step(x, 998, x), 'LCMScheduler.step', 't', 'OUT_OF_RANGE');
    const doubled = tf.zeros([2, 4, 4, 6]);
    expectDifflibError(() => s.step(doubled, 999, x), 'LCMScheduler.step', 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(x, 999, x, { eta: 0 }), 'LCMScheduler.step', 'options.eta', 'UNKNOWN_OPTION');
    const r = s.step(x, 999, x, { seed: 1 });
    tf.dispose([r.prevSample, r.denoised]);
    expectDifflibError(() => s.step(x, 499, x), 'LCMScheduler.step', 't', 'OUT_OF_RANGE');
    tf.dispose([x, doubled]);
  });
});
