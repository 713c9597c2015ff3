// DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler and DEISMultistepScheduler
// beyond the diffusers cases (test/sampling/schedulers.test.ts): bad input refused before
// any tensor, the history they own, the schedule options the fixtures do not cover, and
// the solvers themselves checked by properties. On Gaussian data N(0, s²I) the exact
// ε-predictor at noise level σ (α = 1/√(σ²+1), σ_t = σα) is ε̂(x) = σ_t·x/(α²s² + σ_t²),
// i.e. √(1−ᾱ)·x/(ᾱs² + 1 − ᾱ); the probability-flow ODE then scales every x by
// √(v_end/v_start), v = α²s² + σ_t² the marginal variance, so an ODE solver's error is
// measurable exactly and an SDE solver's final variance must approach s².
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEISMultistepScheduler,
  DPMSolverMultistepScheduler,
  DPMSolverSinglestepScheduler,
  schedulerFromConfig,
  type Scheduler,
  type SchedulerStepOptions,
  type SolverStepOutput,
} from '../../src/index';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';

beforeAll(() => useBackend('cpu'));

type Solver = Omit<Scheduler, "step"> & { step(m: tf.Tensor, t: number, x: tf.Tensor, o?: SchedulerStepOptions): SolverStepOutput };
type Prediction = 'epsilon' | 'sample' | 'v_prediction';

/** The exact model output for data N(0, s²I) at noise level σ, as ε, x_0 or v = α ε − σ_t x_0. */
function gaussianModel(x: tf.Tensor, sigma: number, s: number, prediction: Prediction = 'epsilon'): tf.Tensor {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const sigmaT = sigma * alpha;
  const v = alpha * alpha * s * s + sigmaT * sigmaT;
  if (prediction === 'epsilon') return tf.mul(x, sigmaT / v);
  if (prediction === 'sample') return tf.mul(x, (alpha * s * s) / v);
  return tf.mul(x, (alpha * sigmaT - sigmaT * alpha * s * s) / v);
}

/** Marginal variance α²s² + σ_t² at noise level σ. */
function marginalVariance(sigma: number, s: number): number {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return alpha * alpha * (s * s + sigma * sigma);
}

/** Runs the loop from `xT` with `model(x, i)` and returns the final sample (the caller disposes it). */
function runLoop(scheduler: Solver, xT: tf.Tensor, model: (x: tf.Tensor, i: number, t: number) => tf.Tensor, options: (i: number) => SchedulerStepOptions = () => ({})): tf.Tensor {
  let x = xT.clone();
  Array.from(scheduler.timesteps).forEach((t, i) => {
    const out = model(x, i, t);
    const r = scheduler.step(out, t, x, options(i));
    tf.dispose([x, out, r.convertedModelOutput]);
    x = r.prevSample;
  });
  return x;
}

const X_T = [1, -2, 0.5, 3, -0.25, 1.5];

/** Largest relative error of the final sample against the exact flow x_T·√(v_end/v_start). */
function flowError(scheduler: Solver, n: number, s: number, prediction: Prediction = 'epsilon'): number {
  scheduler.setTimesteps(n);
  const sigmas = Array.from(scheduler.sigmas!);
  const xT = tf.tensor(X_T, [X_T.length, 1]);
  const x = runLoop(scheduler, xT, (x, i) => gaussianModel(x, sigmas[i]!, s, prediction));
  const ratio = Math.sqrt(marginalVariance(sigmas[sigmas.length - 1]!, s) / marginalVariance(sigmas[0]!, s));
  const got = x.dataSync();
  tf.dispose([x, xT]);
  scheduler.dispose();
  return Math.max(...X_T.map((v, k) => Math.abs(got[k]! / v / ratio - 1)));
}

/** softsign_q_v1 of the reference cases (elementwise, on the device): x + (1 − t/1000)(c/2 − softsign(x)/4). */
function softsignModel(c: tf.Tensor): (x: tf.Tensor, i: number, t: number) => tf.Tensor {
  return (x, _i, t) => tf.tidy(() => tf.add(x, tf.mul(tf.sub(tf.mul(c, 0.5), tf.mul(tf.div(x, tf.add(tf.abs(x), 1)), 0.25)), 1 - t * 0.001)));
}

const SHAPE = [2, 4, 4, 3];
const seeded = (seed: number, shape = SHAPE) => tf.randomUniform(shape, -1, 1, 'float32', seed);

const CLASSES = [
  ['DPMSolverMultistepScheduler', (o: Record<string, unknown> = {}) => new DPMSolverMultistepScheduler(o) as Solver],
  ['DPMSolverSinglestepScheduler', (o: Record<string, unknown> = {}) => new DPMSolverSinglestepScheduler(o) as Solver],
  ['DEISMultistepScheduler', (o: Record<string, unknown> = {}) => new DEISMultistepScheduler(o) as Solver],
] as const;

describe.each(CLASSES)('%s refuses bad input before any tensor', (name, make) => {
  it('numInferenceSteps 0, above T or fractional', () => {
    const s = make();
    for (const n of [0, 1001, 2.5]) expectDifflibError(() => s.setTimesteps(n), `${name}.setTimesteps`, 'numInferenceSteps', 'INVALID_ARGUMENT');
  });

  it('step before setTimesteps, t not a timestep, out of order, past the end', () => {
    const s = make();
    const x = seeded(1);
    expectDifflibError(() => s.step(x, 999, x), `${name}.step`, 'this', 'UNSATISFIABLE');
    s.setTimesteps(2);
    const [t0, t1] = Array.from(s.timesteps) as [number, number];
    expectDifflibError(() => s.step(x, 998, x), `${name}.step`, 't', 'OUT_OF_RANGE');
    tf.dispose(Object.values(s.step(x, t0, x)));
    expectDifflibError(() => s.step(x, t0, x), `${name}.step`, 't', 'OUT_OF_RANGE');
    tf.dispose(Object.values(s.step(x, t1, x)));
    expectDifflibError(() => s.step(x, t1, x), `${name}.step`, 't', 'UNSATISFIABLE');
    s.dispose();
    x.dispose();
  });

  it('model output of the wrong shape or channel count, a bad sample, unknown options, bad noise', () => {
    const s = make();
    s.setTimesteps(5);
    const t = s.timesteps[0]!;
    const x = seeded(1);
    const doubled = seeded(2, [2, 4, 4, 6]);
    const wrong = seeded(3, [2, 4, 3, 3]);
    expectDifflibError(() => s.step(wrong, t, x), `${name}.step`, 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(doubled, t, x), `${name}.step`, 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(x, t, [1, 2] as never), `${name}.step`, 'sample', 'INVALID_ARGUMENT');
    expectDifflibError(() => s.step(x, t, x, { eta: 0 }), `${name}.step`, 'options.eta', 'UNKNOWN_OPTION');
    expectDifflibError(() => s.step(x, t, x, { noise: wrong }), `${name}.step`, 'options.noise', 'SHAPE_MISMATCH');
    // Nothing was counted: the first step still runs at timesteps[0].
    tf.dispose(Object.values(s.step(x, t, x)));
    s.dispose();
    tf.dispose([x, doubled, wrong]);
  });

  it('config values out of their domain, and keys difflib does not implement', () => {
    expectDifflibError(() => make({ solverOrder: 4 }), name, 'options.solverOrder', 'INVALID_ARGUMENT');
    expectDifflibError(() => make({ predictionType: 'flow_prediction' }), name, 'options.predictionType', 'INVALID_ARGUMENT');
    expectDifflibError(() => make({ betaSchedule: 'cosine' }), name, 'options.betaSchedule', 'INVALID_ARGUMENT');
    expectDifflibError(() => make({ thresholding: 'yes' }), name, 'options.thresholding', 'INVALID_ARGUMENT');
    expectDifflibError(() => make({ eta: 1 }), name, 'options.eta', 'UNKNOWN_OPTION');
    for (const key of ['useExponentialSigmas', 'useBetaSigmas', 'useFlowSigmas', 'useDynamicShifting']) {
      const err = expectDifflibError(() => make({ [key]: true }), name, `options.${key}`, 'INVALID_ARGUMENT');
      expect(err.detail).toContain('not implemented by difflib');
    }
    const snake = name === 'DEISMultistepScheduler' ? 'use_flow_sigmas' : 'use_beta_sigmas';
    expectDifflibError(() => schedulerFromConfig({ _class_name: name, [snake]: true }, { warn: () => {} }), 'schedulerFromConfig', `config.${snake}`, 'INVALID_ARGUMENT');
  });
});

describe('refusals particular to each scheduler', () => {
  it('DPMSolverMultistepScheduler: ε solvers need a final σ > 0, no third-order sde-dpmsolver, λ clip, variance type', () => {
    const name = 'DPMSolverMultistepScheduler';
    expectDifflibError(() => new DPMSolverMultistepScheduler({ algorithmType: 'dpmsolver' }), name, 'options.finalSigmasType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver' }), name, 'options.finalSigmasType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver', finalSigmasType: 'sigma_min', solverOrder: 3 }), name, 'options.solverOrder', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverMultistepScheduler({ algorithmType: 'deis' as never }), name, 'options.algorithmType', 'INVALID_ARGUMENT');
    for (const v of [NaN, Infinity, '-inf']) expectDifflibError(() => new DPMSolverMultistepScheduler({ lambdaMinClipped: v as number }), name, 'options.lambdaMinClipped', 'INVALID_ARGUMENT');
    // Above every λ_t of the schedule: no timestep would be left.
    expectDifflibError(() => new DPMSolverMultistepScheduler({ lambdaMinClipped: 10 }), name, 'options.lambdaMinClipped', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverMultistepScheduler({ varianceType: 'fixed_small' as never }), name, 'options.varianceType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverMultistepScheduler({ useLuLambdas: true as never }), name, 'options.useLuLambdas', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverMultistepScheduler({ timeShiftType: 'linear' as never }), name, 'options.timeShiftType', 'INVALID_ARGUMENT');
    // A learned-variance output (2C channels) is an ε output: with v_prediction it is refused.
    const s = new DPMSolverMultistepScheduler({ varianceType: 'learned_range', predictionType: 'v_prediction' });
    s.setTimesteps(4);
    const x = seeded(1);
    const doubled = seeded(2, [2, 4, 4, 6]);
    expectDifflibError(() => s.step(doubled, s.timesteps[0]!, x), `${name}.step`, 'modelOutput', 'SHAPE_MISMATCH');
    tf.dispose([x, doubled]);
  });

  it('DPMSolverMultistepScheduler: Karras σs with a final σ_min repeat the last σ; a heun or third-order last step over h = 0 is refused', () => {
    const name = 'DPMSolverMultistepScheduler.setTimesteps';
    const karras = (o: Record<string, unknown>) => new DPMSolverMultistepScheduler({ useKarrasSigmas: true, finalSigmasType: 'sigma_min', ...o });
    expectDifflibError(() => karras({ solverOrder: 3 }).setTimesteps(20), name, 'numInferenceSteps', 'UNSATISFIABLE');
    expectDifflibError(() => karras({ solverType: 'heun' }).setTimesteps(20), name, 'numInferenceSteps', 'UNSATISFIABLE');
    expectDifflibError(() => karras({ solverOrder: 3, lowerOrderFinal: false }).setTimesteps(10), name, 'numInferenceSteps', 'UNSATISFIABLE');
    // Refused before anything changed: the previous schedule stands.
    const s = karras({ solverOrder: 3 });
    s.setTimesteps(10);
    expect(() => s.setTimesteps(20)).toThrow();
    expect(s.timesteps.length).toBe(10);
    expect(s.numInferenceSteps).toBe(10);
    // Lowered or midpoint last steps are fine, and return their sample (h = 0).
    for (const [options, n] of [[{ solverOrder: 3 }, 10], [{ solverOrder: 3, eulerAtFinal: true }, 20], [{}, 20]] as const) {
      const ok = karras(options) as unknown as Solver;
      ok.setTimesteps(n);
      expect(ok.sigmas![n - 1]).toBe(ok.sigmas![n]);
      const c = seeded(7);
      const model = softsignModel(c);
      let x = seeded(1);
      Array.from(ok.timesteps).forEach((t, i) => {
        const out = model(x, i, t);
        const r = ok.step(out, t, x);
        if (i === n - 1) expect(r.prevSample.dataSync()).toEqual(x.dataSync());
        tf.dispose([x, out, r.convertedModelOutput]);
        x = r.prevSample;
      });
      tf.dispose([x, c]);
      ok.dispose();
    }
  });

  it('DPMSolverSinglestepScheduler: no sde-dpmsolver; dpmsolver needs sigma_min', () => {
    const name = 'DPMSolverSinglestepScheduler';
    expectDifflibError(() => new DPMSolverSinglestepScheduler({ algorithmType: 'sde-dpmsolver' as never }), name, 'options.algorithmType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverSinglestepScheduler({ algorithmType: 'dpmsolver' }), name, 'options.finalSigmasType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DPMSolverSinglestepScheduler({ timestepSpacing: 'leading' } as never), name, 'options.timestepSpacing', 'UNKNOWN_OPTION');
  });

  it('DEISMultistepScheduler: only deis / logrho', () => {
    const name = 'DEISMultistepScheduler';
    expectDifflibError(() => new DEISMultistepScheduler({ algorithmType: 'dpmsolver++' as never }), name, 'options.algorithmType', 'INVALID_ARGUMENT');
    expectDifflibError(() => new DEISMultistepScheduler({ solverType: 'midpoint' as never }), name, 'options.solverType', 'INVALID_ARGUMENT');
  });
});

describe.each(CLASSES)('%s owns its history', (_name, make) => {
  it('leaks nothing over a loop, frees the history on setTimesteps and dispose, reads nothing back', () => {
    const c = seeded(7);
    const before = tf.memory().numTensors;
    const s = make({ solverOrder: 3 });
    s.setTimesteps(8);
    const xT = seeded(1);
    const model = softsignModel(c);
    let x = xT.clone();
    Array.from(s.timesteps).forEach((t, i) => {
      const out = model(x, i, t);
      let r!: SolverStepOutput;
      expect(countReadbacks(() => (r = s.step(out, t, x))), 'readbacks in a step').toBe(0);
      tf.dispose([x, out, r.convertedModelOutput]);
      x = r.prevSample;
    });
    // The scheduler still holds the last outputs (and singlestep the group's sample).
    expect(tf.memory().numTensors).toBeGreaterThan(before + 2);
    s.setTimesteps(8);
    expect(tf.memory().numTensors, 'after setTimesteps').toBe(before + 2);
    tf.dispose([x, xT]);
    s.dispose();
    expect(tf.memory().numTensors, 'after dispose').toBe(before);
    c.dispose();
  });

  it('returns tensors the caller owns: disposing them (and the model output) does not touch the history', () => {
    // With ε integrated (dpmsolver, DEIS's ε̂ from x̂_0 = the x_0 output) the converted output may be the model's own.
    const options = make === CLASSES[2][1] ? { predictionType: 'sample' } : { algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' };
    const c = seeded(7);
    const model = softsignModel(c);
    const xT = seeded(1);
    const run = (disposeEarly: boolean) => {
      const s = make({ solverOrder: 2, ...options });
      s.setTimesteps(6);
      let x = xT.clone();
      for (const t of Array.from(s.timesteps)) {
        const out = model(x, 0, t);
        const r = s.step(out, t, x);
        expect(r.convertedModelOutput).not.toBe(out);
        if (disposeEarly) tf.dispose([out, r.convertedModelOutput]);
        tf.dispose(x);
        if (!disposeEarly) tf.dispose([out, r.convertedModelOutput]);
        x = r.prevSample;
      }
      s.dispose();
      const values = x.dataSync();
      x.dispose();
      return values;
    };
    expect(run(true)).toEqual(run(false));
    tf.dispose([c, xT]);
  });
});

describe('Gaussian data: the probability-flow ODE is solved with the solver order', () => {
  const VARIANTS: Record<string, (order: 1 | 2 | 3) => Solver> = {
    'multistep dpmsolver++ midpoint': (o) => new DPMSolverMultistepScheduler({ solverOrder: o }),
    'multistep dpmsolver++ heun': (o) => new DPMSolverMultistepScheduler({ solverOrder: o, solverType: 'heun' }),
    'multistep dpmsolver midpoint': (o) => new DPMSolverMultistepScheduler({ solverOrder: o, algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }),
    'multistep dpmsolver heun': (o) => new DPMSolverMultistepScheduler({ solverOrder: o, algorithmType: 'dpmsolver', solverType: 'heun', finalSigmasType: 'sigma_min' }),
    'DEIS log-rho': (o) => new DEISMultistepScheduler({ solverOrder: o }),
    'singlestep dpmsolver++ midpoint': (o) => new DPMSolverSinglestepScheduler({ solverOrder: o }),
    'singlestep dpmsolver++ heun': (o) => new DPMSolverSinglestepScheduler({ solverOrder: o, solverType: 'heun' }),
    'singlestep dpmsolver heun': (o) => new DPMSolverSinglestepScheduler({ solverOrder: o, algorithmType: 'dpmsolver', solverType: 'heun', finalSigmasType: 'sigma_min' }),
  };

  it.each(Object.entries(VARIANTS))('%s: orders 2 and 3 beat order 1 at 10 steps, and 40 steps beat 10', (_name, make) => {
    const at10 = [1, 2, 3].map((o) => flowError(make(o as 1 | 2 | 3), 10, 1));
    const at40 = [1, 2, 3].map((o) => flowError(make(o as 1 | 2 | 3), 40, 1));
    // Measured (cpu): order 1 0.17 at 10 steps and 0.045 at 40; orders 2 and 3 0.024-0.13
    // at 10 steps and 3e-4-0.013 at 40 (not monotone in the order at 40 steps).
    expect(at10[1]!).toBeLessThan(at10[0]!);
    expect(at10[2]!).toBeLessThan(at10[1]!);
    for (let k = 0; k < 3; k++) expect(at40[k]!, `order ${k + 1}`).toBeLessThan(at10[k]! / 3);
    expect(Math.max(...at40.slice(1))).toBeLessThan(0.02);
  });

  it('singlestep dpmsolver midpoint (ε, order-2 groups) converges too, though its order 2 is worse than order 1 on this grid', () => {
    // diffusers' singlestep DPM-Solver-2 takes the grid's next point as its intermediate
    // point; on a linspace grid near t = 0 that point is far from the λ midpoint.
    const make = (o: 1 | 2 | 3) => new DPMSolverSinglestepScheduler({ solverOrder: o, algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }) as Solver;
    for (const o of [1, 2, 3] as const) expect(flowError(make(o), 40, 1)).toBeLessThan(flowError(make(o), 10, 1) / 3);
  });

  it('with the final σ = 0 the last step lands exactly on E[x_0 | x]: the error is the last first-order step', () => {
    // The last step from σ_N−1 to 0 returns x̂_0 = αs²x/v, so for small s the error is
    // bounded below by 1 − s/√(s² + σ_N−1²) however good the earlier steps are.
    const s = new DPMSolverMultistepScheduler({ solverOrder: 3 }) as Solver;
    s.setTimesteps(10);
    const lastSigma = s.sigmas![9]!;
    const floor = 1 - 0.5 / Math.sqrt(0.25 + lastSigma * lastSigma);
    const err = flowError(s, 10, 0.5);
    expect(err).toBeGreaterThan(floor * 0.9);
    expect(err).toBeLessThan(floor * 1.1);
  });

  it('ε, x_0 and v predictions of the same denoiser give the same samples', () => {
    const makers: Array<(p: Prediction) => Solver> = [
      (p) => new DPMSolverMultistepScheduler({ predictionType: p, solverOrder: 3 }),
      (p) => new DPMSolverMultistepScheduler({ predictionType: p, algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }),
      (p) => new DPMSolverSinglestepScheduler({ predictionType: p, solverOrder: 3 }),
      (p) => new DEISMultistepScheduler({ predictionType: p, solverOrder: 3 }),
    ];
    for (const make of makers) {
      const eps = flowError(make('epsilon'), 12, 0.7);
      expect(Math.abs(flowError(make('sample'), 12, 0.7, 'sample') - eps)).toBeLessThan(1e-4);
      expect(Math.abs(flowError(make('v_prediction'), 12, 0.7, 'v_prediction') - eps)).toBeLessThan(1e-4);
    }
  });

  it('DEIS (log-ρ, order ≤ 2) is DPM-Solver (ε, heun) on the same grid: the same integral of the same interpolant', () => {
    // ∫ ε dρ with ρ = e^{−λ} and ε linear in log ρ = −λ: both integrate the same line exactly.
    const c = seeded(7);
    const model = softsignModel(c);
    const xT = seeded(1);
    for (const order of [1, 2] as const) {
      const deis = new DEISMultistepScheduler({ solverOrder: order }) as Solver;
      const dpm = new DPMSolverMultistepScheduler({ solverOrder: order, algorithmType: 'dpmsolver', solverType: 'heun', finalSigmasType: 'sigma_min' }) as Solver;
      deis.setTimesteps(12);
      dpm.setTimesteps(12);
      expect(Array.from(dpm.sigmas!)).toEqual(Array.from(deis.sigmas!));
      const a = runLoop(deis, xT, model);
      const b = runLoop(dpm, xT, model);
      const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
      expect(diff, `order ${order}`).toBeLessThan(2e-5);
      tf.dispose([a, b]);
    }
    tf.dispose([c, xT]);
  });
});

describe('SDE variants on Gaussian data: the final variance approaches s²', () => {
  const S = 1;
  const BIG = [16, 32, 32, 1]; // 16384 values: the variance's relative standard error is √(2/n) ≈ 1.1%
  function varianceError(scheduler: Solver, n: number, seed: number): number {
    scheduler.setTimesteps(n);
    const sigmas = Array.from(scheduler.sigmas!);
    const xT = tf.mul(tf.randomNormal(BIG, 0, 1, 'float32', seed), Math.sqrt(marginalVariance(sigmas[0]!, S)));
    const x = runLoop(scheduler, xT, (x, i) => gaussianModel(x, sigmas[i]!, S), (i) => ({ seed: seed * 1000 + i }));
    const v = tf.moments(x).variance.dataSync()[0]!;
    tf.dispose([x, xT]);
    scheduler.dispose();
    return v / (S * S) - 1;
  }

  it.each([
    ['multistep sde-dpmsolver++ order 1', () => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver++', solverOrder: 1 })],
    ['multistep sde-dpmsolver++ order 2', () => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver++' })],
    ['multistep sde-dpmsolver order 1', () => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver', solverOrder: 1, finalSigmasType: 'sigma_min' })],
    ['multistep sde-dpmsolver order 2', () => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver', finalSigmasType: 'sigma_min' })],
    ['singlestep sde-dpmsolver++ order 1', () => new DPMSolverSinglestepScheduler({ algorithmType: 'sde-dpmsolver++', solverOrder: 1 })],
  ])('%s', (_name, make) => {
    const coarse = Math.abs(varianceError(make() as Solver, 10, 3));
    const fine = Math.abs(varianceError(make() as Solver, 50, 3));
    expect(fine).toBeLessThan(0.15);
    expect(fine).toBeLessThan(coarse);
  });

  it('noise is drawn at every step (the given draw is used as is); deterministic solvers ignore it', () => {
    const c = seeded(7);
    const model = softsignModel(c);
    const xT = seeded(1);
    const zeros = tf.zerosLike(xT);
    const noise = seeded(9);
    const final = (make: () => Solver, given: tf.Tensor | undefined) => {
      const s = make();
      s.setTimesteps(6);
      const x = runLoop(s, xT, model, () => (given ? { noise: given } : { seed: 5 }));
      s.dispose();
      const v = x.dataSync();
      x.dispose();
      return v;
    };
    for (const make of [
      () => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver++', solverOrder: 3 }) as Solver,
      () => new DPMSolverSinglestepScheduler({ algorithmType: 'sde-dpmsolver++', solverOrder: 3 }) as Solver,
    ]) {
      expect(final(make, noise)).toEqual(final(make, noise));
      expect(final(make, noise)).not.toEqual(final(make, zeros));
      expect(final(make, undefined)).toEqual(final(make, undefined));
    }
    const ode = () => new DPMSolverMultistepScheduler({ solverOrder: 3 }) as Solver;
    expect(final(ode, noise)).toEqual(final(ode, zeros));
    tf.dispose([c, xT, zeros, noise]);
  });
});

describe('model outputs: learned variance and thresholding', () => {
  it('a learned-variance output uses its first C channels only (the rest may be anything)', () => {
    const c = seeded(7);
    const model = softsignModel(c);
    const junk = seeded(11);
    const xT = seeded(1);
    const doubled = (x: tf.Tensor, i: number, t: number) => tf.tidy(() => tf.concat([model(x, i, t), tf.mul(junk, 1e3)], -1));
    const configs: Array<[() => Solver, () => Solver]> = [
      [() => new DPMSolverMultistepScheduler({ varianceType: 'learned_range', solverOrder: 3 }) as Solver, () => new DPMSolverMultistepScheduler({ solverOrder: 3 }) as Solver],
      [
        () => new DPMSolverMultistepScheduler({ varianceType: 'learned', algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }) as Solver,
        () => new DPMSolverMultistepScheduler({ algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }) as Solver,
      ],
      [() => new DPMSolverSinglestepScheduler({ varianceType: 'learned_range', solverOrder: 3 }) as Solver, () => new DPMSolverSinglestepScheduler({ solverOrder: 3 }) as Solver],
    ];
    for (const [learned, plain] of configs) {
      const a = learned();
      const b = plain();
      a.setTimesteps(7);
      b.setTimesteps(7);
      const xa = runLoop(a, xT, doubled);
      const xb = runLoop(b, xT, model);
      expect(xa.dataSync()).toEqual(xb.dataSync());
      tf.dispose([xa, xb]);
    }
    tf.dispose([c, junk, xT]);
  });

  it('dynamic thresholding keeps x̂_0 in [−1, 1] at every step, in every solver', () => {
    // Data with s = 3 makes |x̂_0| exceed 1.5 often: x̂_0 is clamped to ±q and divided by q,
    // q = clamp(quantile_0.995 |x̂_0|, 1, sampleMaxValue = 1.5).
    const S = 3;
    const makers: Array<() => Solver> = [
      () => new DPMSolverMultistepScheduler({ thresholding: true, sampleMaxValue: 1.5, solverOrder: 3 }) as Solver,
      () => new DPMSolverMultistepScheduler({ thresholding: true, sampleMaxValue: 1.5, algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }) as Solver,
      () => new DPMSolverSinglestepScheduler({ thresholding: true, sampleMaxValue: 1.5, solverOrder: 3 }) as Solver,
      () => new DPMSolverSinglestepScheduler({ thresholding: true, sampleMaxValue: 1.5, algorithmType: 'dpmsolver', finalSigmasType: 'sigma_min' }) as Solver,
      () => new DEISMultistepScheduler({ thresholding: true, sampleMaxValue: 1.5, solverOrder: 3 }) as Solver,
    ];
    for (const make of makers) {
      const s = make();
      s.setTimesteps(8);
      const sigmas = Array.from(s.sigmas!);
      const target = (s.config.algorithm_type as string).endsWith('++') ? 'x0' : 'eps';
      let x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 3);
      let clipped = 0;
      Array.from(s.timesteps).forEach((t, i) => {
        const out = gaussianModel(x, sigmas[i]!, S);
        const r = s.step(out, t, x);
        const alpha = 1 / Math.sqrt(sigmas[i]! ** 2 + 1);
        const sigmaT = sigmas[i]! * alpha;
        // x̂_0 from the converted output (ε̂ for dpmsolver and DEIS): (x − σ_t ε̂)/α.
        const x0 = target === 'x0' ? r.convertedModelOutput.clone() : tf.tidy(() => tf.div(tf.sub(x, tf.mul(r.convertedModelOutput, sigmaT)), alpha));
        const raw = tf.tidy(() => tf.div(tf.sub(x, tf.mul(out, sigmaT)), alpha));
        const [maxX0, maxRaw] = [tf.max(tf.abs(x0)).dataSync()[0]!, tf.max(tf.abs(raw)).dataSync()[0]!];
        expect(maxX0, `step ${i}`).toBeLessThanOrEqual(1 + 1e-3);
        if (maxRaw > 1.5) clipped++;
        tf.dispose([x, out, x0, raw, r.convertedModelOutput]);
        x = r.prevSample;
      });
      expect(clipped, 'steps where thresholding had work to do').toBeGreaterThan(2);
      x.dispose();
      s.dispose();
    }
  });
});

describe('schedules the reference cases do not cover', () => {
  /** λ_t = log √ᾱ_t − log √(1 − ᾱ_t) of a scheduler's table. */
  const lambdaOf = (a: number) => Math.log(Math.sqrt(a)) - Math.log(Math.sqrt(1 - a));

  it('lambdaMinClipped drops the training timesteps whose λ is below it (cosine schedule)', () => {
    const clip = -5.1;
    const s = new DPMSolverMultistepScheduler({ betaSchedule: 'squaredcos_cap_v2', lambdaMinClipped: clip });
    const kept = Array.from(s.alphasCumprod).filter((a) => lambdaOf(a) >= clip).length;
    expect(kept).toBeLessThan(1000);
    s.setTimesteps(10);
    expect(s.timesteps[0]).toBe(kept - 1);
    for (const t of Array.from(s.timesteps)) expect(lambdaOf(s.alphasCumprod[t]!)).toBeGreaterThanOrEqual(clip);
    expect(lambdaOf(s.alphasCumprod[kept]!)).toBeLessThan(clip);
    // Trailing spacing keeps its stride T/N from the clipped end: ⌈kept·N/T⌉ < N steps.
    const trailing = new DPMSolverMultistepScheduler({ betaSchedule: 'squaredcos_cap_v2', lambdaMinClipped: clip, timestepSpacing: 'trailing' });
    trailing.setTimesteps(500);
    expect(trailing.timesteps.length).toBe(Math.ceil((kept * 500) / 1000));
    expect(trailing.timesteps.length).toBeLessThan(500);
    expect(trailing.numInferenceSteps).toBe(trailing.timesteps.length);
    expect(trailing.sigmas!.length).toBe(trailing.timesteps.length + 1);
    const single = new DPMSolverSinglestepScheduler({ betaSchedule: 'squaredcos_cap_v2', lambdaMinClipped: clip });
    single.setTimesteps(10);
    expect(single.timesteps[0]).toBe(kept - 1);
  });

  it('Karras timesteps are truncated, not rounded, for the cosine schedule (diffusers casts them unrounded)', () => {
    const s = new DPMSolverMultistepScheduler({ betaSchedule: 'squaredcos_cap_v2', useKarrasSigmas: true });
    s.setTimesteps(12);
    const trainSigma = (t: number) => Math.sqrt((1 - s.alphasCumprod[t]!) / s.alphasCumprod[t]!);
    const ts = Array.from(s.timesteps);
    let roundsUp = 0;
    ts.forEach((t, i) => {
      if (i === 0) return; // σ_max: t = T − 1
      const sigma = s.sigmas![i]!;
      // σ_train(t) ≤ σ_i < σ_train(t + 1): t is the floor of the fractional inverse ...
      expect(trainSigma(t)).toBeLessThanOrEqual(sigma * (1 + 1e-6));
      expect(trainSigma(t + 1)).toBeGreaterThan(sigma * (1 - 1e-6));
      // ... also where the fraction is ½ or more (rounding would give t + 1).
      if (Math.log(sigma / trainSigma(t)) > 0.5 * Math.log(trainSigma(t + 1) / trainSigma(t))) roundsUp++;
    });
    expect(roundsUp).toBeGreaterThan(0);
  });

  it('leading spacing with stepsOffset: (N − i)·⌊T/(N + 1)⌋ + offset', () => {
    for (const make of [(o: object) => new DPMSolverMultistepScheduler(o), (o: object) => new DEISMultistepScheduler(o)]) {
      const s = make({ timestepSpacing: 'leading', stepsOffset: 1 });
      s.setTimesteps(10);
      expect(Array.from(s.timesteps)).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
    }
  });

  it('the last step: first order with a final σ of 0 or eulerAtFinal, else the solver order (N ≥ 15)', () => {
    const lastOrder = (options: Record<string, unknown>) => {
      const s = new DPMSolverMultistepScheduler({ lowerOrderFinal: false, solverOrder: 3, ...options });
      s.setTimesteps(16);
      const c = seeded(7);
      const model = softsignModel(c);
      let x = seeded(1);
      const orders: number[] = [];
      for (const t of Array.from(s.timesteps)) {
        const out = model(x, 0, t);
        const r = s.step(out, t, x);
        orders.push(r.order);
        tf.dispose([x, out, r.convertedModelOutput]);
        x = r.prevSample;
      }
      tf.dispose([x, c]);
      const sigmaMin = Math.sqrt((1 - s.alphasCumprod[0]!) / s.alphasCumprod[0]!);
      expect(s.sigmas![16]).toBeCloseTo(options.finalSigmasType === 'sigma_min' ? sigmaMin : 0, 7);
      return orders;
    };
    expect(lastOrder({})).toEqual([1, 2, ...new Array<number>(13).fill(3), 1]);
    expect(lastOrder({ finalSigmasType: 'sigma_min' })).toEqual([1, 2, ...new Array<number>(14).fill(3)]);
    expect(lastOrder({ finalSigmasType: 'sigma_min', eulerAtFinal: true })).toEqual([1, 2, ...new Array<number>(13).fill(3), 1]);
  });

  it('zero terminal SNR: ᾱ_T is 2⁻²⁴, so the first σ is finite (≈ 4096)', () => {
    const s = new DPMSolverMultistepScheduler({ rescaleBetasZeroSnr: true, timestepSpacing: 'trailing' });
    expect(s.alphasCumprod[999]).toBe(2 ** -24);
    s.setTimesteps(10);
    expect(s.timesteps[0]).toBe(999);
    expect(s.sigmas![0]).toBeCloseTo(4096, 2);
  });

  it('DEIS with Karras σs repeats the last σ: the last (first-order) step returns its sample', () => {
    const s = new DEISMultistepScheduler({ useKarrasSigmas: true, solverOrder: 3 }) as Solver;
    s.setTimesteps(8);
    expect(s.sigmas![8]).toBe(s.sigmas![7]);
    const c = seeded(7);
    const model = softsignModel(c);
    let x = seeded(1);
    const ts = Array.from(s.timesteps);
    ts.forEach((t, i) => {
      const out = model(x, i, t);
      const r = s.step(out, t, x);
      if (i === ts.length - 1) {
        expect(r.order).toBe(1);
        expect(r.prevSample.dataSync()).toEqual(x.dataSync());
      }
      tf.dispose([x, out, r.convertedModelOutput]);
      x = r.prevSample;
    });
    tf.dispose([x, c]);
  });

  it('singlestep: the order groups follow the config and N alone; toConfig() keeps lower_order_final as given', () => {
    const s = new DPMSolverSinglestepScheduler({ solverOrder: 3, finalSigmasType: 'sigma_min' });
    s.setTimesteps(12);
    expect(s.orderList).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    // 10 is not a multiple of 3: lower-order final is forced for this call (diffusers rewrites its config) ...
    s.setTimesteps(10);
    expect(s.orderList).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1]);
    expect(s.toConfig().lower_order_final).toBe(false);
    // ... and not for the next (diffusers would keep lower_order_final = true: 1,2,3,1,2,3,1,2,3,1,2,1).
    s.setTimesteps(12);
    expect(s.orderList).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    const zero = new DPMSolverSinglestepScheduler({ solverOrder: 2 });
    zero.setTimesteps(10);
    expect(zero.orderList).toEqual([1, 2, 1, 2, 1, 2, 1, 2, 1, 1]);
    zero.setTimesteps(5);
    expect(zero.orderList).toEqual([1, 2, 1, 2, 1]);
    const lof = new DPMSolverSinglestepScheduler({ solverOrder: 3, lowerOrderFinal: true, finalSigmasType: 'sigma_min' });
    lof.setTimesteps(11);
    expect(lof.orderList).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]);
  });
});
