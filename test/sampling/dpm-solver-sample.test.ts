import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GaussianDiffusion,
  NoiseSchedule,
  namedBetaSchedule,
  type DiffusionModel,
  type ModelMeanType,
  type ModelVarType,
} from '../../src/index';
import { dpmSolverSample, type DpmSolverSampleOptions } from '../../src/sampling/dpm-solver-sample';
import { NODE_BACKENDS, useBackend } from '../backends';
import { countReadbacksAsync, expectDifflibError } from '../helpers';
import { exactFlowSample, gaussianDenoiser, referenceDpmSolver2M, type GaussianData } from './gaussian-closed-form';

const DATA: GaussianData = { mu: 0.3, s: 0.5 };

function cosineProcess(modelMeanType: ModelMeanType, modelVarType: ModelVarType = 'fixed_small'): GaussianDiffusion {
  return new GaussianDiffusion({ betas: namedBetaSchedule('cosine', 1000), modelMeanType, modelVarType, lossType: 'mse' });
}

/** N steps with λ = log(α/σ) evenly spaced from 4 (step 0) down to −5 (step N−1). */
function lambdaUniformProcess(n: number): GaussianDiffusion {
  const alphasCumprod = Array.from({ length: n }, (_, i) => 1 / (1 + Math.exp(-2 * (4 - (9 * i) / (n - 1)))));
  const betas = alphasCumprod.map((a, i) => (i === 0 ? 1 - a : 1 - a / alphasCumprod[i - 1]!));
  return new GaussianDiffusion({ betas, modelMeanType: 'start_x', modelVarType: 'fixed_small', lossType: 'mse' });
}

/** Deterministic DDIM (η = 0) over every step of `diffusion`, for comparison. */
function ddimLoop(
  diffusion: GaussianDiffusion,
  model: DiffusionModel,
  xT: tf.Tensor,
  options: { clipDenoised?: boolean; denoisedFn?: (x: tf.Tensor) => tf.Tensor } = {},
): tf.Tensor {
  let x = tf.clone(xT);
  for (let t = diffusion.numTimesteps - 1; t >= 0; t--) {
    const { sample, predXStart } = diffusion.ddimSample(model, x, t, { clipDenoised: false, ...options, eta: 0 });
    tf.dispose([x, predXStart]);
    x = sample;
  }
  return x;
}

/** Largest |out − (gain·x_T + offset)| over all entries (a test-side readback). */
function maxErrorFromAffine(out: tf.Tensor, xT: tf.Tensor, { gain, offset }: { gain: number; offset: number }): number {
  const [o, x] = [Array.from(out.dataSync()), Array.from(xT.dataSync())];
  return o.reduce((m, v, i) => Math.max(m, Math.abs(v - (gain * x[i]! + offset))), 0);
}

function rmsErrorFromAffine(out: tf.Tensor, xT: tf.Tensor, { gain, offset }: { gain: number; offset: number }): number {
  const [o, x] = [Array.from(out.dataSync()), Array.from(xT.dataSync())];
  return Math.sqrt(o.reduce((acc, v, i) => acc + (v - (gain * x[i]! + offset)) ** 2, 0) / o.length);
}

function momentsOf(x: tf.Tensor): { mean: number; std: number } {
  const v = Array.from(x.dataSync());
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
}

/** A model made of device ops only, nonlinear in x and depending on t, with 2C outputs when asked. */
function deviceOnlyModel(outChannels: (c: number) => number = (c) => c): DiffusionModel {
  return (x, t) =>
    tf.tidy(() => {
      const perBatch = [x.shape[0]!, ...new Array<number>(x.rank - 1).fill(1)];
      const tScale = tf.reshape(tf.div(tf.cast(t, 'float32'), 1000), perBatch);
      const y = tf.tanh(tf.add(tf.mul(x, 0.7), tScale));
      const c = x.shape[x.rank - 1]!;
      return outChannels(c) === c ? y : tf.concat([y, tf.mul(y, -0.5)], -1);
    });
}

describe('dpmSolverSample on Gaussian data (cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  for (const meanType of ['start_x', 'epsilon'] as const) {
    it(`turns N(0, I) into N(μ, s²) in 20 steps of a 1000-step cosine process (${meanType} model)`, async () => {
      const base = cosineProcess(meanType);
      const diffusion = base.respace('20');
      expect([diffusion.timestepMap[0], diffusion.timestepMap[19]]).toEqual([0, 999]);
      const { model, dispose } = gaussianDenoiser(base, DATA, meanType);
      const xT = tf.randomNormal([2000, 2], 0, 1, 'float32', 11);
      const out = await dpmSolverSample(diffusion, model, [2000, 2], { initialNoise: xT });
      const ddim = ddimLoop(diffusion, model, xT);
      const n = 4000;
      const { mean, std } = momentsOf(out);
      // Sampling error of n = 4000 iid draws: SE(mean) = s/√n ≈ 0.0079, SE(std) ≈ s/√(2n) ≈ 0.0056;
      // 4 SE each. The systematic errors are far smaller: x_T ~ N(0, I) instead of
      // N(α_T μ, v_T) moves the target by < 1e-4 (ᾱ_999 = 2.4e-9), and the solver's gain
      // is off by ~0.3 % (below).
      expect(Math.abs(mean - DATA.mu)).toBeLessThan((4 * DATA.s) / Math.sqrt(n));
      expect(Math.abs(std - DATA.s)).toBeLessThan((4 * DATA.s) / Math.sqrt(2 * n));
      // Per sample against the exact probability-flow map: a float64 simulation puts the
      // gain error at 0.32 % of s, i.e. ≤ 0.0016·|x_T| ≤ 0.007 for |x_T| < 4.3; float32
      // adds ~1e-6 (more for ε, whose x̂_0 = (x − σε)/α is ill-conditioned at α ≈ 5e-5).
      const exact = exactFlowSample(diffusion, DATA);
      const dpmError = maxErrorFromAffine(out, xT, exact);
      expect(dpmError).toBeLessThan(0.01);
      // DDIM at the same 20 steps is first order: its gain is ~8 % low (measured: max error
      // 0.154 against DPM-Solver++'s 0.0063, 24×).
      expect(maxErrorFromAffine(ddim, xT, exact)).toBeGreaterThan(10 * dpmError);
      tf.dispose([xT, out, ddim]);
      dispose();
    });
  }

  it('is second order: the error falls ~4× per doubling of the steps (DDIM: ~2×)', async () => {
    // λ-uniform grids with the same endpoints, so refining is smooth in λ (on a
    // time-uniform grid the last λ-step shrinks only like log N). At N = 10, h = 1 and the
    // error is not yet asymptotic (a float64 simulation shows its sign flip between N = 5
    // and 10), so the doublings start at 20.
    const xT = tf.randomNormal([512, 1], 0, 1, 'float32', 3);
    const errors = { dpm: [] as number[], ddim: [] as number[] };
    for (const n of [20, 40, 80, 500]) {
      const diffusion = lambdaUniformProcess(n);
      const { model, dispose } = gaussianDenoiser(diffusion, DATA, 'start_x');
      const exact = exactFlowSample(diffusion, DATA);
      const out = await dpmSolverSample(diffusion, model, [512, 1], { initialNoise: xT });
      const ddim = ddimLoop(diffusion, model, xT);
      errors.dpm.push(rmsErrorFromAffine(out, xT, exact));
      errors.ddim.push(rmsErrorFromAffine(ddim, xT, exact));
      tf.dispose([out, ddim]);
      dispose();
    }
    const ratios = (e: number[]): number[] => [e[0]! / e[1]!, e[1]! / e[2]!];
    // Measured: DPM-Solver++ 3.7×, 4.0×; DDIM 2.0×, 2.0×.
    for (const r of ratios(errors.dpm)) expect(r).toBeGreaterThan(3);
    for (const r of ratios(errors.ddim)) {
      expect(r).toBeGreaterThan(1.8);
      expect(r).toBeLessThan(2.2);
    }
    // 500 steps: second order predicts error(80)·(80/500)² ≈ 1e-5; allow float32 on top.
    expect(errors.dpm[3]).toBeLessThan(3e-5);
    tf.dispose(xT);
  });

  for (const lowerOrderFinal of [true, false]) {
    it(`matches a float64 transcription of diffusers' DPM-Solver++(2M) step (lowerOrderFinal ${lowerOrderFinal})`, async () => {
      const base = cosineProcess('start_x');
      const diffusion = base.respace('8');
      const { model, dispose } = gaussianDenoiser(base, DATA, 'start_x');
      const xT = tf.randomNormal([64, 2], 0, 1, 'float32', 5);
      const out = await dpmSolverSample(diffusion, model, [64, 2], { initialNoise: xT, lowerOrderFinal });
      // float32 rounding over 8 steps of O(1) values.
      const reference = referenceDpmSolver2M(diffusion.alphasCumprod, DATA, lowerOrderFinal);
      expect(maxErrorFromAffine(out, xT, reference)).toBeLessThan(2e-5);
      // The two settings differ (so the option is honoured), by more than that tolerance.
      const other = referenceDpmSolver2M(diffusion.alphasCumprod, DATA, !lowerOrderFinal);
      expect(Math.abs(other.gain - reference.gain)).toBeGreaterThan(1e-3);
      tf.dispose([xT, out]);
      dispose();
    });
  }

  it('handles a zero-terminal-SNR schedule (ᾱ_{N−1} = 0, h = ∞ on the first step)', async () => {
    const schedule = NoiseSchedule.named('cosine', 1000).rescaleZeroTerminalSnr();
    const base = new GaussianDiffusion({ schedule, modelMeanType: 'start_x', modelVarType: 'fixed_small', lossType: 'mse' });
    const diffusion = base.respace('20');
    expect(diffusion.alphasCumprod[19]).toBe(0);
    const { model, dispose } = gaussianDenoiser(base, DATA, 'start_x');
    const xT = tf.randomNormal([256, 2], 0, 1, 'float32', 9);
    const out = await dpmSolverSample(diffusion, model, [256, 2], { initialNoise: xT });
    expect(maxErrorFromAffine(out, xT, referenceDpmSolver2M(diffusion.alphasCumprod, DATA, true))).toBeLessThan(2e-5);
    // and close to the exact flow (discretisation error as on the plain cosine grid; measured 0.0053).
    expect(maxErrorFromAffine(out, xT, exactFlowSample(diffusion, DATA))).toBeLessThan(0.01);
    tf.dispose([xT, out]);
    dispose();
  });
  it('DDIM is finite on the same zero-terminal-SNR grid (ε̂ from x̂_0 at ᾱ = 0 is x_T)', async () => {
    const schedule = NoiseSchedule.named('cosine', 1000).rescaleZeroTerminalSnr();
    const base = new GaussianDiffusion({ schedule, modelMeanType: 'start_x', modelVarType: 'fixed_small', lossType: 'mse' });
    const diffusion = base.respace('20');
    const { model, dispose } = gaussianDenoiser(base, DATA, 'start_x');
    const xT = tf.randomNormal([256, 2], 0, 1, 'float32', 9);
    const out = await diffusion.ddimSampleLoop(model, [256, 2], { initialNoise: xT, clipDenoised: false });
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    // DDIM is the first-order solver of the same flow: measured 0.126 from the exact flow
    // on these 20 steps (DPM-Solver++ 0.0053); before the fix every value was NaN.
    expect(maxErrorFromAffine(out, xT, exactFlowSample(diffusion, DATA))).toBeLessThan(0.2);
    tf.dispose([xT, out]);
    dispose();
  });
});

describe('dpmSolverSample with any model (cpu)', () => {
  let xT: tf.Tensor;
  beforeAll(async () => {
    await useBackend('cpu');
    xT = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 21);
  });
  afterAll(() => tf.dispose(xT));

  it('equals DDIM when every update is first order (3 steps), passing clipDenoised and denoisedFn through', async () => {
    // ε-prediction with a learned-range variance half, rescaled timesteps: pMeanVariance's work.
    const base = new GaussianDiffusion({
      betas: namedBetaSchedule('linear', 1000),
      modelMeanType: 'epsilon',
      modelVarType: 'learned_range',
      lossType: 'rescaled_mse',
      rescaleTimesteps: true,
    });
    const diffusion = base.respace('3');
    const model = deviceOnlyModel((c) => 2 * c);
    for (const options of [{}, { clipDenoised: true, denoisedFn: (x0: tf.Tensor) => tf.mul(x0, 1.5) }]) {
      const out = await dpmSolverSample(diffusion, model, xT.shape, { initialNoise: xT, ...options });
      const ddim = ddimLoop(diffusion, model, xT, options);
      // Two algebraically equal forms: equal up to a few float32 ulp of the largest value
      // (x̂_0 reaches ~280 here, this model being no denoiser; 1 ulp of 280 is 3e-5).
      const [diff, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(out, ddim))), tf.max(tf.abs(ddim))].map((v) => v.dataSync()[0]!));
      expect(diff).toBeLessThanOrEqual(1e-6 * Math.max(1, scale!));
      tf.dispose([out, ddim]);
    }
  });

  it('draws x_T from the seed, reports progress and passes modelKwargs to the model', async () => {
    const diffusion = cosineProcess('epsilon').respace('5');
    const kwargs = { y: 'label' };
    const seen: unknown[] = [];
    const inner = deviceOnlyModel();
    const model: DiffusionModel = (x, t, k) => {
      seen.push(k);
      return inner(x, t);
    };
    const progress: Array<[number, number]> = [];
    const seeded = await dpmSolverSample(diffusion, model, [3, 4, 4, 2], {
      seed: 21,
      modelKwargs: kwargs,
      onProgress: (done, total) => progress.push([done, total]),
    });
    const explicit = await dpmSolverSample(diffusion, inner, [3, 4, 4, 2], { initialNoise: xT });
    const otherSeed = await dpmSolverSample(diffusion, inner, [3, 4, 4, 2], { seed: 22 });
    // Seed 0 is a seed too (tfjs alone would treat it as "none").
    const zeros = [0, 0].map(() => dpmSolverSample(diffusion, inner, [3, 4, 4, 2], { seed: 0 }));
    const [zeroA, zeroB] = await Promise.all(zeros);
    expect(Array.from(zeroA!.dataSync())).toEqual(Array.from(zeroB!.dataSync()));
    tf.dispose([zeroA!, zeroB!]);
    // xT was drawn with seed 21: the seeded run starts from the same x_T.
    expect(Array.from(seeded.dataSync())).toEqual(Array.from(explicit.dataSync()));
    expect(Array.from(seeded.dataSync())).not.toEqual(Array.from(otherSeed.dataSync()));
    expect(seeded.shape).toEqual([3, 4, 4, 2]);
    expect(progress).toEqual([1, 2, 3, 4, 5].map((k) => [k, 5]));
    expect(seen.every((k) => k === kwargs)).toBe(true);
    tf.dispose([seeded, explicit, otherSeed]);
  });
});

for (const backend of NODE_BACKENDS) {
  describe(`dpmSolverSample memory, readbacks and abort on ${backend}`, () => {
    let noise: tf.Tensor;
    const diffusion = cosineProcess('epsilon', 'learned_range').respace('6');
    const model = deviceOnlyModel((c) => 2 * c);
    const shape = [2, 4, 4, 3];
    beforeAll(async () => {
      await useBackend(backend);
      noise = tf.randomNormal(shape, 0, 1, 'float32', 1);
    });
    afterAll(() => tf.dispose(noise));

    it('leaks no tensor, keeps the caller’s noise and reads nothing back', async () => {
      for (const options of [{ noise }, { seed: 4 }, { noise, lowerOrderFinal: false, clipDenoised: true }]) {
        const before = tf.memory().numTensors;
        let out: tf.Tensor | undefined;
        const readbacks = await countReadbacksAsync(async () => {
          out = await dpmSolverSample(diffusion, model, shape, options);
        });
        expect(readbacks).toBe(0);
        expect(out!.isDisposed).toBe(false);
        out!.dispose();
        expect(tf.memory().numTensors).toBe(before);
        expect(noise.isDisposed).toBe(false);
      }
    });

    it('stops between steps on abort, rejects with the signal’s reason and leaks nothing', async () => {
      const before = tf.memory().numTensors;
      let calls = 0;
      const counting: DiffusionModel = (x, t) => (calls++, model(x, t));
      const controller = new AbortController();
      const run = dpmSolverSample(diffusion, counting, shape, {
        noise,
        signal: controller.signal,
        onProgress: (done) => done === 2 && controller.abort(),
      });
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      expect(calls).toBe(2);
      expect(tf.memory().numTensors).toBe(before);

      const reason = new Error('user pressed stop');
      const custom = new AbortController();
      const stopped = dpmSolverSample(diffusion, model, shape, {
        signal: custom.signal,
        onProgress: (done) => done === 3 && custom.abort(reason),
      });
      await expect(stopped).rejects.toBe(reason);
      expect(tf.memory().numTensors).toBe(before);
      expect(noise.isDisposed).toBe(false);
    });

    it('rejects at once, having made nothing, when the signal is already aborted', async () => {
      const before = tf.memory().numTensors;
      let calls = 0;
      const counting: DiffusionModel = (x, t) => (calls++, model(x, t));
      await expect(dpmSolverSample(diffusion, counting, shape, { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(calls).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('leaks nothing when the model fails mid-way', async () => {
      const before = tf.memory().numTensors;
      let calls = 0;
      const failing: DiffusionModel = (x, t) => {
        if (++calls === 3) throw new Error('out of memory');
        return model(x, t);
      };
      await expect(dpmSolverSample(diffusion, failing, shape, { noise })).rejects.toThrow('out of memory');
      // A model output of the wrong shape is caught by pMeanVariance, also mid-way.
      const wrongShape: DiffusionModel = (x) => tf.clone(x);
      await expect(dpmSolverSample(diffusion, wrongShape, shape, { noise })).rejects.toThrow('model output must have shape');
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}

describe('dpmSolverSample bad input (cpu)', () => {
  beforeAll(() => useBackend('cpu'));
  const fn = 'dpmSolverSample';
  const diffusion = cosineProcess('epsilon').respace('10');
  const model = deviceOnlyModel();
  const bad = (options: unknown, shape: unknown = [2, 3]): (() => unknown) => () =>
    dpmSolverSample(diffusion, model, shape as number[], options as DpmSolverSampleOptions);

  it('refuses what a caller might pass by mistake, synchronously and before making a tensor', () => {
    expectDifflibError(() => dpmSolverSample({} as GaussianDiffusion, model, [2, 3]), fn, 'diffusion', 'INVALID_ARGUMENT');
    expectDifflibError(() => dpmSolverSample(diffusion, 'unet' as never, [2, 3]), fn, 'model', 'INVALID_ARGUMENT');
    for (const shape of [[], [4], [2, 0], [2, 1.5], '2,3', [2, '3']]) {
      expectDifflibError(bad({}, shape), fn, 'shape', 'INVALID_ARGUMENT');
    }
    expectDifflibError(bad(null), fn, 'options', 'INVALID_ARGUMENT');
    const wrong = tf.zeros([2, 4]);
    const ints = tf.zeros([2, 3], 'int32');
    const disposed = tf.zeros([2, 3]);
    disposed.dispose();
    expectDifflibError(bad({ initialNoise: wrong }), fn, 'options.initialNoise', 'SHAPE_MISMATCH');
    expectDifflibError(bad({ initialNoise: ints }), fn, 'options.initialNoise', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ initialNoise: disposed }), fn, 'options.initialNoise', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ initialNoise: [[0, 0, 0]] }), fn, 'options.initialNoise', 'INVALID_ARGUMENT');
    tf.dispose([wrong, ints]);
    expectDifflibError(bad({ seed: Number.NaN }), fn, 'options.seed', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ seed: '1' }), fn, 'options.seed', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ modelKwargs: 'y' }), fn, 'options.modelKwargs', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ clipDenoised: 'yes' }), fn, 'options.clipDenoised', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ lowerOrderFinal: 1 }), fn, 'options.lowerOrderFinal', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ denoisedFn: 'clip' }), fn, 'options.denoisedFn', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ onProgress: true }), fn, 'options.onProgress', 'INVALID_ARGUMENT');
    expectDifflibError(bad({ signal: new AbortController() }), fn, 'options.signal', 'INVALID_ARGUMENT');
  });

  it('refuses a process whose signal vanishes before its last step (h undefined)', () => {
    const degenerate = new GaussianDiffusion({ betas: [0.1, 1, 1], modelMeanType: 'start_x', modelVarType: 'fixed_small', lossType: 'mse' });
    expectDifflibError(() => dpmSolverSample(degenerate, model, [2, 3]), fn, 'diffusion', 'UNSATISFIABLE');
  });
});
