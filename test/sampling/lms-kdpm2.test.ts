// LMSDiscreteScheduler and KDPM2DiscreteScheduler beyond the diffusers reference cases
// (scheduler-suite.ts): the LMS coefficients against diffusers' stored ones and the
// defining integral; the KDPM2 midpoint table; the paths no case covers (Karras σ with
// each prediction type, ε / v / x̂_0 models) on an exact Gaussian, where data N(0, s²I)
// has the exact denoiser D(x; σ) = s²/(s²+σ²)·x, so the probability-flow ODE
// dx/dσ = (x − D)/σ = σx/(s²+σ²) is linear and each solver multiplies x by a gain its
// recursion gives in closed form (the exact flow ends at variance s²); ownership; and
// every refusal.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EulerDiscreteScheduler,
  KDPM2DiscreteScheduler,
  LMSDiscreteScheduler,
  schedulerFromConfig,
  type KDPM2DiscreteStepOutput,
  type LMSDiscreteStepOutput,
  type Scheduler,
  type SchedulerStepOptions,
} from '../../src/index';
import { lmsCoefficients } from '../../src/sampling/schedulers/lms-coefficients';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';
import { expectClose } from '../reference/compare';
import { decode, loadSchedulerGroups } from './scheduler-cases';

type Prediction = 'epsilon' | 'v_prediction' | 'sample';
const SD = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;
const groups = await loadSchedulerGroups();

beforeAll(() => useBackend('cpu'));

/** The σ the model is called at on call k: σ_i, or for KDPM2's second stages σ̃ (odd calls). */
function callSigma(scheduler: Scheduler, k: number): number {
  if (scheduler instanceof KDPM2DiscreteScheduler && k % 2 === 1) return scheduler.sigmasInterpol[k]!;
  return scheduler.sigmas![k]!;
}

/**
 * The exact model output for data N(0, s²I) at σ from the scaled input x_in = x/c,
 * c = √(σ²+1): D = s²/(s²+σ²)·x; ε̂ = (x − D)/σ; v̂ = (x/c² − D)·c/σ (so that
 * v̂·(−σ/c) + x/c² = D); or D itself.
 */
function gaussianModel(xIn: tf.Tensor, sigma: number, s: number, type: Prediction): tf.Tensor {
  const c = Math.sqrt(sigma * sigma + 1);
  const gain = (s * s) / (s * s + sigma * sigma);
  if (type === 'sample') return tf.mul(xIn, gain * c);
  if (type === 'epsilon') return tf.mul(xIn, ((1 - gain) * c) / sigma);
  return tf.mul(xIn, ((1 / c - gain * c) * c) / sigma);
}

/** The sampling loop with the exact Gaussian model; returns the final sample and each step's LMS coefficients. */
function sampleGaussian(
  scheduler: Scheduler,
  xT: tf.Tensor,
  s: number,
  type: Prediction,
  options: (k: number) => SchedulerStepOptions = () => ({}),
): { x: tf.Tensor; coeffs: number[][] } {
  let x = tf.clone(xT);
  const coeffs: number[][] = [];
  Array.from(scheduler.timesteps).forEach((t, k) => {
    const input = scheduler.scaleModelInput(x, t);
    const out = gaussianModel(input, callSigma(scheduler, k), s, type);
    const result = scheduler.step(out, t, x, options(k)) as Partial<LMSDiscreteStepOutput>;
    if (result.lmsCoeffs) coeffs.push(result.lmsCoeffs);
    tf.dispose([input, out, x, result.predOriginalSample!]);
    x = result.prevSample!;
  });
  return { x, coeffs };
}

/** n normal values standardised to mean 0 and standard deviation `scale` exactly. */
function standardNormal(n: number, seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => {
    const z = tf.randomNormal([n, 1, 1, 1], 0, 1, 'float32', seed);
    const { mean, variance } = tf.moments(z);
    return tf.mul(tf.div(tf.sub(z, mean), tf.sqrt(variance)), scale);
  });
}

/** max |a − b| relative to max |b|. */
function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(b))).dataSync()[0]!);
}

/** λ(σ) = σ/(s²+σ²): the ODE's dx/dσ = λ(σ)·x on the exact Gaussian. */
const lambda = (sigma: number, s: number) => sigma / (s * s + sigma * sigma);

/** The gain of the LMS recursion x_{i+1} = x_i + Σ_k c_k λ(σ_{i−k}) x_{i−k} on the exact Gaussian, in float64. */
function lmsGain(sigmas: ArrayLike<number>, coeffs: number[][], s: number): number {
  const g = [1];
  coeffs.forEach((c, i) => g.push(g[i]! + c.reduce((sum, ck, k) => sum + ck * lambda(sigmas[i - k]!, s) * g[i - k]!, 0)));
  return g[g.length - 1]!;
}

/** The gain of N DPM-Solver-2 steps: x̃ = x + (σ̃ − σ)λ(σ)x, x' = x + (σ' − σ)λ(σ̃)x̃, the last step Euler to 0. */
function kdpm2Gain(scheduler: KDPM2DiscreteScheduler, s: number): number {
  const n = scheduler.numInferenceSteps;
  const sigma = (i: number) => scheduler.sigmas[2 * i]!; // σ_i (σ_N = 0)
  let g = 1;
  for (let i = 0; i < n; i++) {
    if (i === n - 1) g *= 1 + (0 - sigma(i)) * lambda(sigma(i), s);
    else {
      const mid = scheduler.sigmasInterpol[2 * i + 1]!;
      const gMid = g * (1 + (mid - sigma(i)) * lambda(sigma(i), s));
      g += (sigma(i + 1) - sigma(i)) * lambda(mid, s) * gMid;
    }
  }
  return g;
}

describe('LMS coefficients', () => {
  it("are diffusers' (scipy's quad of the float32 integrand) to the bit in every stored case", () => {
    // The exact integral of the Lagrange basis differs from these in the 8th digit, and
    // in the last bit of ~30% of them after the float32 cast: lms-coefficients.ts
    // reproduces QUADPACK's 21-point Gauss–Kronrod sum instead.
    for (const c of groups.lms_discrete!) {
      const scheduler = schedulerFromConfig({ _class_name: c.scheduler, ...c.config }) as LMSDiscreteScheduler;
      scheduler.setTimesteps(c.inputs.num_inference_steps);
      const x = tf.zeros([1, 1, 1, 3]);
      const got = Array.from(scheduler.timesteps, (t) => {
        const { prevSample, predOriginalSample, lmsCoeffs } = scheduler.step(x, t, x, { order: c.inputs.step_kwargs.order as number | undefined });
        tf.dispose([prevSample, predOriginalSample]);
        return lmsCoeffs;
      });
      expect(got, c.name).toEqual(c.outputs.steps.lms_coeffs);
      scheduler.dispose();
      x.dispose();
    }
  });

  it('sum to σ_{i+1} − σ_i and integrate every polynomial of degree below the order exactly', () => {
    for (const useKarrasSigmas of [false, true]) {
      const scheduler = new LMSDiscreteScheduler({ ...SD, useKarrasSigmas });
      scheduler.setTimesteps(25);
      const sigmas = scheduler.sigmas;
      for (let i = 0; i < 25; i++) {
        for (let order = 1; order <= Math.min(i + 1, 4); order++) {
          const c = lmsCoefficients(sigmas, order, i);
          const [a, b] = [sigmas[i]!, sigmas[i + 1]!];
          for (let degree = 0; degree < order; degree++) {
            // Σ_k c_k p(σ_{i−k}) = ∫_a^b p for p(τ) = ((τ − b)/(a − b))^degree, which is O(1) on the nodes.
            const p = (tau: number) => ((tau - b) / (a - b)) ** degree;
            const quadrature = c.reduce((sum, ck, k) => sum + ck * p(sigmas[i - k]!), 0);
            const exact = (b - a) / (degree + 1);
            const magnitude = c.reduce((sum, ck, k) => sum + Math.abs(ck * p(sigmas[i - k]!)), 0);
            expect(Math.abs(quadrature - exact), `Karras ${useKarrasSigmas}, step ${i}, order ${order}, degree ${degree}`).toBeLessThan(1e-6 * magnitude + 1e-12);
          }
        }
      }
    }
  });

  it('are the exact integral where quad would go on subdividing (N = T), and the float32-integrand estimate elsewhere', () => {
    const scheduler = new LMSDiscreteScheduler({ ...SD, timestepSpacing: 'trailing' });
    scheduler.setTimesteps(1000);
    const sigmas = scheduler.sigmas;
    /** ∫_{σ_i}^{σ_{i+1}} of the Lagrange basis of σ_{i−k} by 2-point Gauss–Legendre (exact for cubics), float64. */
    const exact = (i: number, k: number) => {
      const [a, b] = [sigmas[i]!, sigmas[i + 1]!];
      const basis = (tau: number) => [0, 1, 2, 3].filter((j) => j !== k).reduce((p, j) => (p * (tau - sigmas[i - j]!)) / (sigmas[i - k]! - sigmas[i - j]!), 1);
      const h = (b - a) / 2;
      const m = (a + b) / 2;
      return h * (basis(m - h / Math.sqrt(3)) + basis(m + h / Math.sqrt(3)));
    };
    // Step 628: quad's error estimate for k = 3 exceeds its bound (float32 noise of the integrand).
    const c628 = lmsCoefficients(sigmas, 4, 628);
    expect(Math.abs(c628[3]! - exact(628, 3))).toBeLessThan(1e-13 * Math.abs(exact(628, 3)));
    // Step 10: all four are quad's first estimate, 1e-7-close to the exact integral but not equal to it.
    const c10 = lmsCoefficients(sigmas, 4, 10);
    const errors = c10.map((ck, k) => Math.abs(ck - exact(10, k)) / Math.abs(exact(10, k)));
    expect(Math.max(...errors)).toBeGreaterThan(1e-12);
    expect(Math.max(...errors)).toBeLessThan(1e-5);
  });
});

describe('LMSDiscreteScheduler on the exact Gaussian', () => {
  it('is the LMS recursion with its own coefficients, for every prediction type, with and without Karras σ', () => {
    const s = 0.5;
    for (const useKarrasSigmas of [false, true]) {
      const finals = (['epsilon', 'v_prediction', 'sample'] as const).map((type) => {
        const scheduler = new LMSDiscreteScheduler({ ...SD, useKarrasSigmas, predictionType: type });
        scheduler.setTimesteps(15);
        const xT = standardNormal(256, 1, scheduler.initNoiseSigma);
        const { x, coeffs } = sampleGaussian(scheduler, xT, s, type);
        const expected = tf.mul(xT, lmsGain(scheduler.sigmas, coeffs, s));
        expect(maxRelDiff(x, expected), `${type}, Karras ${useKarrasSigmas}`).toBeLessThan(2e-5);
        tf.dispose([xT, expected]);
        scheduler.dispose();
        return x;
      });
      expect(maxRelDiff(finals[1]!, finals[0]!)).toBeLessThan(2e-5);
      expect(maxRelDiff(finals[2]!, finals[0]!)).toBeLessThan(2e-5);
      tf.dispose(finals);
    }
  });

  it("an order lowered for one step: diffusers drops one derivative only, so the next order-4 step still has four", () => {
    const scheduler = new LMSDiscreteScheduler(SD);
    scheduler.setTimesteps(10);
    const xT = standardNormal(64, 5, scheduler.initNoiseSigma);
    const { x, coeffs } = sampleGaussian(scheduler, xT, 0.5, 'epsilon', (k) => ({ order: k === 6 ? 2 : 4 }));
    expect(coeffs.map((c) => c.length)).toEqual([1, 2, 3, 4, 4, 4, 2, 4, 4, 4]);
    const expected = tf.mul(xT, lmsGain(scheduler.sigmas, coeffs, 0.5));
    expect(maxRelDiff(x, expected)).toBeLessThan(2e-5);
    tf.dispose([xT, x, expected]);
    scheduler.dispose();
  });

  it('order 1 is Euler’s method, bit for bit', () => {
    const lms = new LMSDiscreteScheduler({ ...SD, useKarrasSigmas: true });
    const euler = new EulerDiscreteScheduler({ ...SD, useKarrasSigmas: true });
    lms.setTimesteps(10);
    euler.setTimesteps(10);
    const xT = standardNormal(64, 3, lms.initNoiseSigma);
    const a = sampleGaussian(lms, xT, 0.5, 'epsilon', () => ({ order: 1 })).x;
    const b = sampleGaussian(euler, xT, 0.5, 'epsilon').x;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([xT, a, b]);
  });

  it('samples end at variance s², closer with more steps and with a higher order', () => {
    const finalVariance = (n: number, s: number, order: number, useKarrasSigmas = false) => {
      const scheduler = new LMSDiscreteScheduler({ ...SD, useKarrasSigmas });
      scheduler.setTimesteps(n);
      const sigma0 = scheduler.sigmas[0]!;
      // The exact marginal at σ_0: the flow maps it onto N(0, s²).
      const xT = standardNormal(4096, 7, Math.sqrt(s * s + sigma0 * sigma0));
      const { x } = sampleGaussian(scheduler, xT, s, 'epsilon', () => ({ order }));
      const v = tf.tidy(() => tf.moments(x).variance.dataSync()[0]!);
      tf.dispose([xT, x]);
      return Math.abs(v / (s * s) - 1);
    };
    // Measured |variance/s² − 1|: order 1 at 20 steps 0.22 (s = 0.5), 0.13 (s = 1); order 4
    // 2.9e-3, 3.6e-3 at 20 steps, 2.0e-4, 5.0e-5 at 80; Karras σ, 40 steps: 1.3e-3.
    for (const s of [0.5, 1]) {
      const [order1, order4, order4More] = [finalVariance(20, s, 1), finalVariance(20, s, 4), finalVariance(80, s, 4)];
      expect(order4 * 10, `s = ${s}: order 4 vs order 1`).toBeLessThan(order1);
      expect(order4More * 5, `s = ${s}: 80 steps vs 20`).toBeLessThan(order4);
      expect(order4More, `s = ${s}`).toBeLessThan(1e-3);
    }
    expect(finalVariance(40, 0.5, 4, true)).toBeLessThan(5e-3);
  });
});

describe('KDPM2DiscreteScheduler', () => {
  it("has diffusers' interleaved midpoint table σ̃ (NaN first)", () => {
    for (const c of groups.k_dpm_2_discrete!) {
      const scheduler = schedulerFromConfig({ _class_name: c.scheduler, ...c.config }) as KDPM2DiscreteScheduler;
      scheduler.setTimesteps(c.inputs.num_inference_steps);
      const expected = decode(c.outputs.sigmas_interpol);
      expect(Number.isNaN(scheduler.sigmasInterpol[0]!)).toBe(true);
      // torch's exp/log (SLEEF) are an ulp off the correctly rounded ones now and then.
      expectClose(Array.from(scheduler.sigmasInterpol).slice(1), expected.slice(1), { rtol: 1e-6, atol: 0 }, c.name);
    }
  });

  it('with Karras σ: integer timesteps at the σ_i, midpoints between them, σ_i by the Karras formula', () => {
    const plain = new KDPM2DiscreteScheduler(SD);
    const karras = new KDPM2DiscreteScheduler({ ...SD, useKarrasSigmas: true });
    const n = 12;
    plain.setTimesteps(n);
    karras.setTimesteps(n);
    const [max, min] = [plain.sigmas[0]!, plain.sigmas[2 * n - 2]!];
    const t = karras.timesteps;
    expect(t).toHaveLength(2 * n - 1);
    for (let i = 0; i < n; i++) {
      const rho = 7;
      const expected = (max ** (1 / rho) + (i / (n - 1)) * (min ** (1 / rho) - max ** (1 / rho))) ** rho;
      expect(Math.abs(karras.sigmas[2 * i]! / expected - 1), `σ_${i}`).toBeLessThan(1e-6);
      expect(Number.isInteger(t[2 * i]!), `t_${i}`).toBe(true);
      if (i > 0) {
        expect(t[2 * i - 1]!).toBeLessThan(t[2 * i - 2]!);
        expect(t[2 * i - 1]!).toBeGreaterThan(t[2 * i]!);
        const mid = Math.sqrt(karras.sigmas[2 * i - 2]! * karras.sigmas[2 * i]!); // the log-midpoint
        expect(Math.abs(karras.sigmasInterpol[2 * i - 1]! / mid - 1), `σ̃_${i}`).toBeLessThan(1e-6);
      }
    }
  });

  it('on the exact Gaussian: the DPM-Solver-2 recursion, for both prediction types, with and without Karras σ', () => {
    const s = 0.7;
    for (const useKarrasSigmas of [false, true]) {
      const [eps, v] = (['epsilon', 'v_prediction'] as const).map((type) => {
        const scheduler = new KDPM2DiscreteScheduler({ ...SD, useKarrasSigmas, predictionType: type });
        scheduler.setTimesteps(8);
        const xT = standardNormal(256, 2, scheduler.initNoiseSigma);
        const { x } = sampleGaussian(scheduler, xT, s, type);
        const expected = tf.mul(xT, kdpm2Gain(scheduler, s));
        expect(maxRelDiff(x, expected), `${type}, Karras ${useKarrasSigmas}`).toBeLessThan(2e-5);
        tf.dispose([xT, expected]);
        scheduler.dispose();
        return x;
      });
      expect(maxRelDiff(v!, eps!)).toBeLessThan(2e-5);
      tf.dispose([eps!, v!]);
    }
  });

  it('samples end at variance s², second-order closer with more steps', () => {
    const finalVariance = (n: number, s: number) => {
      const scheduler = new KDPM2DiscreteScheduler(SD);
      scheduler.setTimesteps(n);
      const xT = standardNormal(4096, 7, Math.sqrt(s * s + scheduler.sigmas[0]! ** 2));
      const { x } = sampleGaussian(scheduler, xT, s, 'epsilon');
      const v = tf.tidy(() => tf.moments(x).variance.dataSync()[0]!);
      tf.dispose([xT, x]);
      return Math.abs(v / (s * s) - 1);
    };
    for (const s of [0.5, 1]) {
      // Measured: 8.1e-2, 2.5e-2, 6.3e-3 (s = 0.5) and 2.5e-2, 7.5e-3, 1.9e-3 (s = 1); the
      // ratio tends to 4 (second order) over the last Euler step's fixed share.
      const [few, more, many] = [finalVariance(20, s), finalVariance(40, s), finalVariance(80, s)];
      expect(more * 3, `s = ${s}: 40 steps vs 20`).toBeLessThan(few);
      expect(many * 3, `s = ${s}: 80 steps vs 40`).toBeLessThan(more);
      expect(many, `s = ${s}`).toBeLessThan(0.01);
    }
  });
});

describe('ownership', () => {
  it('LMS holds at most `order` derivatives, freed by setTimesteps and dispose; a step reads nothing back', () => {
    const scheduler = new LMSDiscreteScheduler(SD);
    scheduler.setTimesteps(6);
    const x = tf.ones([1, 2, 2, 3]);
    const before = tf.memory().numTensors;
    let reads = 0;
    for (const t of Array.from(scheduler.timesteps)) {
      reads += countReadbacks(() => {
        const { prevSample, predOriginalSample } = scheduler.step(x, t, x, { order: 3 });
        tf.dispose([prevSample, predOriginalSample]);
      });
    }
    expect(reads).toBe(0);
    expect(tf.memory().numTensors).toBe(before + 3);
    scheduler.setTimesteps(6);
    expect(tf.memory().numTensors).toBe(before);
    const { prevSample, predOriginalSample } = scheduler.step(x, scheduler.timesteps[0]!, x);
    tf.dispose([prevSample, predOriginalSample]);
    scheduler.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('KDPM2 keeps its own copy of the first stage’s sample (the caller may dispose it), freed by setTimesteps', () => {
    const a = new KDPM2DiscreteScheduler(SD);
    const b = new KDPM2DiscreteScheduler(SD);
    a.setTimesteps(3);
    b.setTimesteps(3);
    const [t0, t1] = [a.timesteps[0]!, a.timesteps[1]!];
    const x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 4);
    const out = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 5);
    const before = tf.memory().numTensors;
    const results: KDPM2DiscreteStepOutput[] = [];
    for (const s of [a, b]) {
      const copy = tf.clone(x);
      const first = s.step(out, t0, copy);
      if (s === a) copy.dispose(); // a: the caller frees its sample between the stages
      results.push(first, s.step(out, t1, first.prevSample));
      if (s === b) copy.dispose();
    }
    expect(results.map((r) => r.order)).toEqual([1, 2, 1, 2]);
    expect(Array.from(results[1]!.prevSample.dataSync())).toEqual(Array.from(results[3]!.prevSample.dataSync()));
    for (const r of results) tf.dispose([r.prevSample, r.predOriginalSample]);
    expect(tf.memory().numTensors).toBe(before);
    // A first stage's sample is held until the second stage, setTimesteps or dispose.
    a.setTimesteps(3);
    const held = a.step(out, t0, x);
    tf.dispose([held.prevSample, held.predOriginalSample]);
    expect(tf.memory().numTensors).toBe(before + 1);
    a.setTimesteps(3);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, out]);
  });
});

describe('refusals, before any tensor is made', () => {
  const classes = [
    ['LMSDiscreteScheduler', (o: object = {}) => new LMSDiscreteScheduler(o)],
    ['KDPM2DiscreteScheduler', (o: object = {}) => new KDPM2DiscreteScheduler(o)],
  ] as const;

  for (const [name, create] of classes) {
    it(`${name}: config values outside their domain or not implemented`, () => {
      const e = expectDifflibError(() => create({ useExponentialSigmas: true }), name, 'options.useExponentialSigmas', 'INVALID_ARGUMENT');
      expect(e.message).toContain('not implemented');
      expectDifflibError(() => create({ useBetaSigmas: true }), name, 'options.useBetaSigmas');
      expectDifflibError(() => create({ timestepSpacing: 'even' }), name, 'options.timestepSpacing');
      expectDifflibError(() => create({ numTrainTimesteps: 0 }), name, 'options.numTrainTimesteps');
      expectDifflibError(() => create({ useKarrasSigmas: 1 }), name, 'options.useKarrasSigmas');
      expectDifflibError(() => create({ sigmaMin: 0.1 }), name, 'options.sigmaMin', 'UNKNOWN_OPTION');
      expectDifflibError(() => schedulerFromConfig({ _class_name: name, use_beta_sigmas: true }), 'schedulerFromConfig', 'config.use_beta_sigmas');
    });

    it(`${name}: numInferenceSteps 0 or above T; a step before setTimesteps; a t not next in order; after the last step`, () => {
      const s = create({ numTrainTimesteps: 100 }) as Scheduler;
      const x = tf.zeros([2, 4, 4, 3]);
      for (const n of [0, 101, 2.5]) expectDifflibError(() => s.setTimesteps(n), `${name}.setTimesteps`, 'numInferenceSteps');
      expectDifflibError(() => s.step(x, 99, x), `${name}.step`, 'this', 'UNSATISFIABLE');
      expectDifflibError(() => s.scaleModelInput(x, 99), `${name}.scaleModelInput`, 'this', 'UNSATISFIABLE');
      s.setTimesteps(3);
      const t = Array.from(s.timesteps);
      expectDifflibError(() => s.step(x, 98.5, x), `${name}.step`, 't', 'OUT_OF_RANGE');
      const first = s.step(x, t[0]!, x);
      tf.dispose([first.prevSample, first.predOriginalSample!]);
      // Steps go in order: the same t again, or one skipped (KDPM2's midpoint), is refused.
      expectDifflibError(() => s.step(x, t[0]!, x), `${name}.step`, 't', 'OUT_OF_RANGE');
      expectDifflibError(() => s.scaleModelInput(x, t[2]!), `${name}.scaleModelInput`, 't', 'OUT_OF_RANGE');
      for (const ti of t.slice(1)) {
        const r = s.step(x, ti, x);
        tf.dispose([r.prevSample, r.predOriginalSample!]);
      }
      expectDifflibError(() => s.step(x, t[t.length - 1]!, x), `${name}.step`, 't', 'UNSATISFIABLE');
      s.dispose();
      x.dispose();
    });

    it(`${name}: a model output of the wrong shape or channel count, an unknown step option`, () => {
      const s = create() as Scheduler;
      s.setTimesteps(5);
      const t = s.timesteps[0]!;
      const x = tf.zeros([2, 4, 4, 3]);
      const doubled = tf.zeros([2, 4, 4, 6]);
      const flat = tf.zeros([2, 48]);
      expectDifflibError(() => s.step(doubled, t, x), `${name}.step`, 'modelOutput', 'SHAPE_MISMATCH');
      expectDifflibError(() => s.step(flat, t, x), `${name}.step`, 'modelOutput', 'SHAPE_MISMATCH');
      expectDifflibError(() => s.step(x, t, x, { sChurn: 1 }), `${name}.step`, 'options.sChurn', 'UNKNOWN_OPTION');
      // Nothing was counted: the first step still runs at t.
      const r = s.step(x, t, x);
      tf.dispose([r.prevSample, r.predOriginalSample!, x, doubled, flat]);
      s.dispose();
    });
  }

  it('LMSDiscreteScheduler: an order that is not a positive integer', () => {
    const s = new LMSDiscreteScheduler();
    s.setTimesteps(5);
    const x = tf.zeros([1, 2, 2, 3]);
    for (const order of [0, -1, 2.5, '4', NaN]) expectDifflibError(() => s.step(x, s.timesteps[0]!, x, { order: order as number }), 'LMSDiscreteScheduler.step', 'options.order', 'INVALID_ARGUMENT');
    x.dispose();
  });

  it('KDPM2DiscreteScheduler: no x̂_0 (`sample`) prediction, and no order option', () => {
    const e = expectDifflibError(() => new KDPM2DiscreteScheduler({ predictionType: 'sample' as never }), 'KDPM2DiscreteScheduler', 'options.predictionType', 'INVALID_ARGUMENT');
    expect(e.message).toContain('NotImplementedError');
    const s = new KDPM2DiscreteScheduler();
    s.setTimesteps(5);
    const x = tf.zeros([1, 2, 2, 3]);
    expectDifflibError(() => s.step(x, s.timesteps[0]!, x, { order: 2 }), 'KDPM2DiscreteScheduler.step', 'options.order', 'UNKNOWN_OPTION');
    x.dispose();
  });
});
