import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GaussianDiffusion, namedBetaSchedule, type DiffusionModel, type ModelKwargs } from '../../src/index';
import { classifierFreeGuidance } from '../../src/guidance';
import { dpmSolverSample } from '../../src/sampling/dpm-solver-sample';
import { NODE_BACKENDS, useBackend } from '../backends';
import { countReadbacks, expectDifflibError, expectNoLeak } from '../helpers';

const NULL_LABEL = 10;

/**
 * A conditional fake whose output depends on the label in a known, nonlinear way:
 * mean part tanh(x·(1 + y/10) + t/1000) + y/100, variance part −x·(y + 1)/20.
 */
function labelledModel(learnedVariance = false): DiffusionModel {
  return (x, t, kwargs) =>
    tf.tidy(() => {
      const perBatch = [x.shape[0]!, ...new Array<number>(x.rank - 1).fill(1)];
      const y = tf.reshape(tf.cast(kwargs!['y'] as tf.Tensor, 'float32'), perBatch);
      const tScale = tf.reshape(tf.div(tf.cast(t, 'float32'), 1000), perBatch);
      const mean = tf.add(tf.tanh(tf.add(tf.mul(x, tf.add(1, tf.div(y, 10))), tScale)), tf.div(y, 100));
      return learnedVariance ? tf.concat([mean, tf.mul(tf.neg(x), tf.div(tf.add(y, 1), 20))], -1) : mean;
    });
}

/** Runs `model` on its own and reads the result (test-side). */
function run(model: DiffusionModel, x: tf.Tensor, t: tf.Tensor1D, kwargs: ModelKwargs): Float32Array {
  const out = model(x, t, kwargs);
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

for (const backend of NODE_BACKENDS) {
  describe(`classifierFreeGuidance on ${backend}`, () => {
    let x: tf.Tensor;
    let t: tf.Tensor1D;
    let y: tf.Tensor1D;
    let nullY: tf.Tensor1D;
    beforeAll(async () => {
      await useBackend(backend);
      x = tf.randomNormal([3, 2, 2, 2], 0, 1, 'float32', 1);
      t = tf.tensor1d([5, 500, 999], 'int32');
      // The last element asks for the null label itself: allowed, it comes out unconditional.
      y = tf.tensor1d([2, 7, NULL_LABEL], 'int32');
      nullY = tf.fill([3], NULL_LABEL, 'int32') as tf.Tensor1D;
    });
    afterAll(() => tf.dispose([x, t, y, nullY]));

    for (const w of [0, 1, 3.5, -0.5]) {
      it(`returns ε_∅ + w·(ε_y − ε_∅) for w = ${w}`, () => {
        const inner = labelledModel();
        const guided = classifierFreeGuidance(inner, { guidanceScale: w, nullLabel: NULL_LABEL });
        const cond = run(inner, x, t, { y });
        const uncond = run(inner, x, t, { y: nullY });
        const expected = uncond.map((u, i) => u + w * (cond[i]! - u));
        // Outputs are O(1); float32 rounding of u + w(c − u) is a few 1e-7.
        expectClose(run(guided, x, t, { y }), expected, 1e-6);
        if (w === 1) expectClose(run(guided, x, t, { y }), cond, 1e-6);
        if (w === 0) expectClose(run(guided, x, t, { y }), uncond, 0);
      });
    }

    it('calls the model once on the doubled batch [x; x], [t; t], [y; ∅], passing other kwargs through', () => {
      const calls: Array<{ x: number[]; t: number[]; y: number[]; extra: unknown }> = [];
      const inner = labelledModel();
      const spy: DiffusionModel = (xs, ts, kwargs) => {
        calls.push({
          x: xs.shape,
          t: Array.from(ts.dataSync()),
          y: Array.from((kwargs!['y'] as tf.Tensor).dataSync()),
          extra: kwargs!['extra'],
        });
        return inner(xs, ts, kwargs);
      };
      const extra = { note: 'kept' };
      const out = classifierFreeGuidance(spy, { guidanceScale: 2, nullLabel: NULL_LABEL })(x, t, { y, extra });
      expect(calls).toEqual([{ x: [6, 2, 2, 2], t: [5, 500, 999, 5, 500, 999], y: [2, 7, 10, 10, 10, 10], extra }]);
      expect(out.shape).toEqual(x.shape);
      // The element whose label is ∅ has ε_y = ε_∅: guidance leaves it alone.
      const uncond = run(inner, x, t, { y: nullY });
      expectClose(out.dataSync().slice(16), uncond.slice(16), 1e-6);
      out.dispose();
    });

    it('keeps the conditional variance half for learned variances (GLIDE) and reads labels from labelKey', () => {
      const inner = labelledModel(true);
      const renamed: DiffusionModel = (xs, ts, kwargs) => inner(xs, ts, { y: kwargs!['label'] });
      const guided = classifierFreeGuidance(renamed, { guidanceScale: 4, nullLabel: NULL_LABEL, labelKey: 'label', learnedVariance: true });
      const out = guided(x, t, { label: y });
      expect(out.shape).toEqual([3, 2, 2, 4]);
      const [mean, variance] = tf.split(out, 2, -1);
      const cond = inner(x, t, { y });
      const uncond = inner(x, t, { y: nullY });
      const [condMean, condVariance] = tf.split(cond, 2, -1);
      const [uncondMean] = tf.split(uncond, 2, -1);
      const u = uncondMean!.dataSync();
      const c = condMean!.dataSync();
      expectClose(mean!.dataSync(), u.map((v, i) => v + 4 * (c[i]! - v)), 2e-6);
      // A slice of the same values: exactly equal.
      expect(Array.from(variance!.dataSync())).toEqual(Array.from(condVariance!.dataSync()));
      tf.dispose([out, mean!, variance!, cond, uncond, condMean!, condVariance!, uncondMean!]);
    });

    it('leaks no tensor and reads nothing back, alone and inside pMeanVariance', () => {
      const guided = classifierFreeGuidance(labelledModel(true), { guidanceScale: 3, nullLabel: NULL_LABEL, learnedVariance: true });
      expectNoLeak(() => guided(x, t, { y }));
      expect(countReadbacks(() => tf.dispose(guided(x, t, { y })))).toBe(0);
      const diffusion = new GaussianDiffusion({
        betas: namedBetaSchedule('cosine', 1000),
        modelMeanType: 'epsilon',
        modelVarType: 'learned_range',
        lossType: 'rescaled_mse',
      });
      expectNoLeak(() => diffusion.pMeanVariance(guided, x, t, { modelKwargs: { y } }));
      expect(y.isDisposed).toBe(false);
    });
  });
}

describe('classifierFreeGuidance in a sampler (cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  it('guided sampling of Gaussian classes is sampling the class with its mean pushed away from the null mean', async () => {
    // Class y has data N(μ_y, s²) with μ_y = y/10 and the null label the mixture's mean 0
    // (a Gaussian stand-in: the ideal x̂_0 is affine in μ). Mixing the x̂_0 of μ_y and μ_∅
    // with weights (1 − w, w) is the ideal x̂_0 of μ_∅ + w(μ_y − μ_∅), so guided sampling
    // must equal plain sampling of that mean.
    const base = new GaussianDiffusion({
      betas: namedBetaSchedule('cosine', 1000),
      modelMeanType: 'start_x',
      modelVarType: 'fixed_small',
      lossType: 'mse',
    });
    const s = 0.4;
    const alphas = tf.tensor1d(Float32Array.from(base.alphasCumprod, Math.sqrt));
    const sigmas = tf.tensor1d(Float32Array.from(base.alphasCumprod, (a) => Math.sqrt(1 - a)));
    const denoiser =
      (meanOf: (kwargs: ModelKwargs) => tf.Tensor): DiffusionModel =>
      (xs, ts, kwargs) =>
        tf.tidy(() => {
          const a = tf.reshape(tf.gather(alphas, ts), [-1, 1]);
          const sigma = tf.reshape(tf.gather(sigmas, ts), [-1, 1]);
          const mu = tf.reshape(meanOf(kwargs!), [-1, 1]);
          const gain = tf.div(tf.mul(a, s * s), tf.add(tf.mul(tf.square(a), s * s), tf.square(sigma)));
          return tf.add(mu, tf.mul(gain, tf.sub(xs, tf.mul(a, mu))));
        });
    const classMean = (kwargs: ModelKwargs): tf.Tensor => {
      const y = kwargs['y'] as tf.Tensor;
      return tf.where(tf.equal(y, NULL_LABEL), tf.zeros(y.shape), tf.div(tf.cast(y, 'float32'), 10));
    };
    const w = 2.5;
    const y = tf.tensor1d([1, 4, 7, 9], 'int32');
    const pushed = tf.mul(w, tf.div(tf.cast(y, 'float32'), 10)); // μ_∅ + w(μ_y − μ_∅) with μ_∅ = 0
    const diffusion = base.respace('15');
    const xT = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    const cfg = classifierFreeGuidance(denoiser(classMean), { guidanceScale: w, nullLabel: NULL_LABEL });
    const guided = await dpmSolverSample(diffusion, cfg, [4, 3], { noise: xT, modelKwargs: { y } });
    const plain = await dpmSolverSample(diffusion, denoiser(() => tf.clone(pushed)), [4, 3], { noise: xT });
    // float32 rounding through 15 steps of O(1) values.
    expectClose(guided.dataSync(), plain.dataSync(), 1e-5);
    tf.dispose([guided, plain]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([alphas, sigmas, y, pushed, xT]);
  });
});

describe('classifierFreeGuidance bad input (cpu)', () => {
  const fn = 'classifierFreeGuidance';
  let x: tf.Tensor;
  let t: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.zeros([2, 2, 2, 1]);
    t = tf.tensor1d([1, 2], 'int32');
  });
  afterAll(() => tf.dispose([x, t]));

  it('refuses guidance without a null label, and other bad options', () => {
    const model = labelledModel();
    const make = (options: unknown) => () => classifierFreeGuidance(model, options as never);
    expectDifflibError(make({ guidanceScale: 3 }), fn, 'options.nullLabel', 'INVALID_ARGUMENT');
    for (const nullLabel of [-1, 1.5, '10', 2 ** 31]) {
      expectDifflibError(make({ guidanceScale: 3, nullLabel }), fn, 'options.nullLabel', 'INVALID_ARGUMENT');
    }
    for (const guidanceScale of [Number.NaN, Infinity, '7.5', undefined]) {
      expectDifflibError(make({ guidanceScale, nullLabel: 0 }), fn, 'options.guidanceScale', 'INVALID_ARGUMENT');
    }
    expectDifflibError(make({ guidanceScale: 3, nullLabel: 0, labelKey: '' }), fn, 'options.labelKey', 'INVALID_ARGUMENT');
    expectDifflibError(make({ guidanceScale: 3, nullLabel: 0, learnedVariance: 'yes' }), fn, 'options.learnedVariance', 'INVALID_ARGUMENT');
    expectDifflibError(make(undefined), fn, 'options', 'INVALID_ARGUMENT');
    expectDifflibError(() => classifierFreeGuidance('unet' as never, { guidanceScale: 3, nullLabel: 0 }), fn, 'model', 'INVALID_ARGUMENT');
  });

  it('refuses calls with missing or mis-sized labels, before making a tensor', () => {
    const guided = classifierFreeGuidance(labelledModel(), { guidanceScale: 3, nullLabel: NULL_LABEL });
    const floats = tf.tensor1d([1, 2]);
    const three = tf.tensor1d([1, 2, 3], 'int32');
    const matrix = tf.tensor2d([[1], [2]], [2, 1], 'int32');
    const y = tf.tensor1d([1, 2], 'int32');
    expectDifflibError(() => guided(x, t), fn, 'kwargs.y', 'INVALID_ARGUMENT');
    expectDifflibError(() => guided(x, t, { label: y }), fn, 'kwargs.y', 'INVALID_ARGUMENT');
    expectDifflibError(() => guided(x, t, { y: [1, 2] }), fn, 'kwargs.y', 'INVALID_ARGUMENT');
    expectDifflibError(() => guided(x, t, { y: floats }), fn, 'kwargs.y', 'INVALID_ARGUMENT');
    expectDifflibError(() => guided(x, t, { y: three }), fn, 'kwargs.y', 'SHAPE_MISMATCH');
    expectDifflibError(() => guided(x, t, { y: matrix }), fn, 'kwargs.y', 'SHAPE_MISMATCH');
    expectDifflibError(() => guided(x, three, { y }), fn, 't', 'SHAPE_MISMATCH');
    const keyed = classifierFreeGuidance(labelledModel(), { guidanceScale: 3, nullLabel: NULL_LABEL, labelKey: 'label' });
    const err = expectDifflibError(() => keyed(x, t, { y }), fn, 'kwargs.label', 'INVALID_ARGUMENT');
    expect(err.message).toContain('modelKwargs: { label: labels }');
    tf.dispose([floats, three, matrix, y]);
  });

  it('names the learnedVariance option when the model’s channels disagree with it', () => {
    const y = tf.tensor1d([1, 2], 'int32');
    const before = tf.memory().numTensors;
    const wrong = classifierFreeGuidance(labelledModel(false), { guidanceScale: 3, nullLabel: NULL_LABEL, learnedVariance: true });
    expect(() => wrong(x, t, { y })).toThrow(/classifierFreeGuidance: model output must have shape \[4,2,2,2\].*learnedVariance: true/);
    expect(tf.memory().numTensors).toBe(before);
    y.dispose();
  });
});
