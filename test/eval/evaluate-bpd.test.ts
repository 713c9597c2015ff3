import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { eightGaussians, HostDataset } from '../../src/data';
import { evaluateBpd, type BpdProgress } from '../../src/eval';
import { DifflibError, GaussianDiffusion, namedBetaSchedule, type DiffusionModel } from '../../src/index';
import { seededUniform } from '../../src/random';
import { NODE_BACKENDS, useBackend } from '../backends';
import { countReadbacksAsync } from '../helpers';

const T = 20;
/** x_0-prediction with β̃_t: every L_t has a closed form when x̂_0 is a constant. */
const startX = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', T), modelMeanType: 'start_x', modelVarType: 'fixed_small', lossType: 'mse' });
/** ε-prediction with β_t, for the properties that hold for any model. */
const epsilon = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', T), modelMeanType: 'epsilon', modelVarType: 'fixed_large', lossType: 'mse' });
/** A model that depends on x_t and t, so every term differs between batches and steps. */
const someModel: DiffusionModel = (x, t) => tf.tidy(() => tf.mul(tf.tanh(x), tf.reshape(tf.div(tf.cast(t, 'float32'), T), [-1, ...x.shape.slice(1).map(() => 1)])));
const constantModel = (value: number): DiffusionModel => (x) => tf.fill(x.shape, value);

/** Images of random 8-bit levels, x = k/127.5 − 1. */
function gridImages(batch: number, seed: number): tf.Tensor4D {
  const u = seededUniform(seed);
  return tf.tensor4d(Float32Array.from({ length: batch * 16 }, () => Math.floor(u() * 256) / 127.5 - 1), [batch, 4, 4, 1]);
}

const LN2 = Math.log(2);
/** improved-diffusion's Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))), in float64. */
const approxCdf = (x: number) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
/** L_0 in bits for an interior pixel x decoded by N(μ, σ²): −log₂[Φ((x+1/255−μ)/σ) − Φ((x−1/255−μ)/σ)], clamped at 1e-12. */
const decoderBits = (x: number, mu: number, sigma: number) =>
  -Math.log2(Math.max(1e-12, approxCdf((x + 1 / 255 - mu) / sigma) - approxCdf((x - 1 / 255 - mu) / sigma)));
/** L_T in bits for one pixel x: KL(N(√ᾱ x, 1 − ᾱ) ‖ N(0, 1)). */
function priorBits(d: GaussianDiffusion, x: number): number {
  const a = d.alphasCumprod[d.numTimesteps - 1]!;
  return (0.5 * (-Math.log1p(-a) - a + a * x * x)) / LN2;
}

async function expectRejection(promise: Promise<unknown>, argument: string, code?: string): Promise<DifflibError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DifflibError);
  const e = err as DifflibError;
  expect(e.message.startsWith(`evaluateBpd: ${argument}`), e.message).toBe(true);
  if (code) expect(e.code).toBe(code);
  return e;
}

describe('evaluateBpd', () => {
  beforeAll(() => useBackend('cpu'));

  it('over one batch equals the mean of calcBpdLoop’s totalBpd with the same seed', async () => {
    const x = gridImages(3, 1);
    const direct = epsilon.calcBpdLoop(someModel, x, { seed: 5 });
    const [total, prior, vb] = [direct.totalBpd.arraySync(), direct.priorBpd.arraySync(), direct.vb.arraySync()];
    const result = await evaluateBpd(epsilon, someModel, [x], { seed: 5, clipDenoised: true });
    // The same float32 numbers, averaged in float64 in another order: 1e-12 relative.
    const mean = total.reduce((a, b) => a + b) / 3;
    expect(result.bpd).toBeCloseTo(mean, 10);
    expect(result.priorBpd).toBeCloseTo(prior.reduce((a, b) => a + b) / 3, 14);
    // vbPerStep is indexed by t; calcBpdLoop's column j holds t = T − 1 − j.
    for (let t = 0; t < T; t++) expect(result.vbPerStep[t]).toBeCloseTo(vb.reduce((s, row) => s + row[T - 1 - t]!, 0) / 3, 10);
    expect(result.examples).toBe(3);
    expect(result.batches).toBe(1);
    const sd = Math.sqrt(total.reduce((s, v) => s + (v - mean) ** 2, 0) / 2);
    expect(result.bpdStandardError).toBeCloseTo(sd / Math.sqrt(3), 10);
    tf.dispose([x, direct]);
  });

  it('over batches of 3 and 1 is the mean over the 4 examples, batch b seeded with seed + b·T', async () => {
    const [a, b] = [gridImages(3, 2), gridImages(1, 3)];
    const ta = epsilon.calcBpdLoop(someModel, a, { seed: 7 });
    const tb = epsilon.calcBpdLoop(someModel, b, { seed: 7 + T });
    const totals = [...ta.totalBpd.arraySync(), ...tb.totalBpd.arraySync()];
    const result = await evaluateBpd(epsilon, someModel, [a, b], { seed: 7 });
    expect(result.bpd).toBeCloseTo(totals.reduce((s, v) => s + v) / 4, 10);
    // Not the mean of batch means (what image_nll.py reports): that differs here.
    const meanOfMeans = (totals.slice(0, 3).reduce((s, v) => s + v) / 3 + totals[3]!) / 2;
    expect(Math.abs(result.bpd - meanOfMeans)).toBeGreaterThan(1e-3);
    expect(result.examples).toBe(4);
    tf.dispose([a, b, ta, tb]);
  });

  it('has a tiny, positive prior term L_T under the cosine schedule, equal to its closed form', async () => {
    // ᾱ_{T−1} ≈ 6.1e-6 for cosine T = 20 (the last β is clipped at 0.999), so
    // L_T ≈ ᾱ·x²/(2 ln 2) per pixel: a few 1e-6 bits at most.
    const x = gridImages(4, 4);
    const xs = await x.data();
    const expected = Array.from(xs).reduce((s, v) => s + priorBits(epsilon, v), 0) / xs.length;
    const { priorBpd } = await evaluateBpd(epsilon, someModel, [x], { seed: 0 });
    expect(priorBpd).toBeGreaterThan(0);
    expect(priorBpd).toBeLessThan(1e-5);
    // normalKl keeps float32 relative precision here (it groups e^δ − 1 − δ): 1e-4 relative.
    expect(Math.abs(priorBpd - expected) / expected).toBeLessThan(1e-4);
    x.dispose();
  });

  it('gives the exact x_0 predictor its closed-form bound, and a worse one a much higher bound', async () => {
    // All pixels at level 128 (x = 1/255). Predicting x̂_0 = x_0 makes p_θ(x_{t−1}|x_t) the
    // posterior itself: every KL term is 0 and only the decoder L_0 (σ² = β̃_1) and L_T
    // remain. Predicting x_0 + 0.5 shifts each posterior mean by coef1_t·0.5, so
    // L_t = (0.5·coef1_t)²/(2β̃_t ln 2), and L_0 decodes at μ = x_0 + 0.5.
    const c = 1 / 255;
    const x = tf.fill([2, 4, 4, 1], c) as tf.Tensor4D;
    const sigma0 = Math.exp(0.5 * startX.posteriorLogVarianceClipped[0]!);
    const ideal = await evaluateBpd(startX, constantModel(c), [x], { seed: 1 });
    const idealExpected = decoderBits(c, c, sigma0) + priorBits(startX, c);
    // 4.5996 bits: σ_0 = 0.0758, so the bin ±1/255 holds only 4.1% of the decoder's mass.
    // float32 CDFs: 1e-7 measured, 1e-6 allowed.
    expect(Math.abs(ideal.bpd - idealExpected)).toBeLessThan(1e-6);
    for (let t = 1; t < T; t++) expect(Math.abs(ideal.vbPerStep[t]!)).toBeLessThan(1e-6);

    const off = await evaluateBpd(startX, constantModel(c + 0.5), [x], { seed: 1 });
    let klBits = 0;
    for (let t = 1; t < T; t++) {
      const expected = (0.5 * startX.posteriorMeanCoef1[t]!) ** 2 / (2 * Math.exp(startX.posteriorLogVarianceClipped[t]!) * LN2);
      // float32 posterior means: ~1e-6 relative on each term.
      expect(off.vbPerStep[t]! / expected).toBeCloseTo(1, 4);
      klBits += expected;
    }
    // L_0 here is 6.6σ into the tail: clamped at 1e-12, i.e. 39.86 bits.
    expect(off.vbPerStep[0]).toBeCloseTo(decoderBits(c, c + 0.5, sigma0), 3);
    expect(off.bpd / (klBits + decoderBits(c, c + 0.5, sigma0) + priorBits(startX, c))).toBeCloseTo(1, 5);
    expect(off.bpd).toBeGreaterThan(10 * ideal.bpd);
    x.dispose();
  });

  it('on black pixels (x = −1, the edge bin) the exact predictor pays only −log₂Φ(1/(255σ_0))', async () => {
    const x = tf.fill([1, 4, 4, 1], -1) as tf.Tensor4D;
    const sigma0 = Math.exp(0.5 * startX.posteriorLogVarianceClipped[0]!);
    const { bpd } = await evaluateBpd(startX, constantModel(-1), [x], { seed: 1 });
    // 0.94 bits: the edge bin takes the whole lower tail.
    expect(Math.abs(bpd - (-Math.log2(approxCdf(1 / 255 / sigma0)) + priorBits(startX, -1)))).toBeLessThan(1e-6);
    x.dispose();
  });

  it('evaluates a HostDataset in order, batchSize at a time, disposing its batches', async () => {
    const images = gridImages(5, 6);
    const ds = new HostDataset(await images.data<'float32'>(), [5, 4, 4, 1]);
    const fromTensors = await evaluateBpd(epsilon, someModel, [tf.slice(images, 0, 2), tf.slice(images, 2, 2), tf.slice(images, 4, 1)], { seed: 3 });
    const before = tf.memory().numTensors;
    const fromDataset = await evaluateBpd(epsilon, someModel, ds, { seed: 3, batchSize: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(fromDataset.bpd).toBe(fromTensors.bpd);
    expect(fromDataset.batches).toBe(3);
    const limited = await evaluateBpd(epsilon, someModel, ds, { seed: 3, batchSize: 2, maxBatches: 1 });
    expect(limited.examples).toBe(2);
    tf.dispose([images]);
  });

  it('passes labels as modelKwargs.y when classConditional, keeping the caller’s kwargs', async () => {
    const ds = eightGaussians(6, { seed: 2 });
    const seen: number[][] = [];
    let calls = 0;
    const model: DiffusionModel = (x, _t, kwargs) => {
      const y = kwargs!.y as tf.Tensor1D;
      expect(y.dtype).toBe('int32');
      expect(kwargs!.scale).toBe(2);
      if (calls++ % T === 0) seen.push(Array.from(y.dataSync())); // the test's own readback
      return tf.mul(x, 0.1);
    };
    await evaluateBpd(epsilon, model, ds, { batchSize: 4, classConditional: true, modelKwargs: { scale: 2 }, seed: 0 });
    expect(seen).toEqual([Array.from(ds.labels!.subarray(0, 4)), Array.from(ds.labels!.subarray(4))]);
    const unlabelled = new HostDataset(new Float32Array(4), [2, 2]);
    await expectRejection(evaluateBpd(epsilon, model, unlabelled, { classConditional: true }), 'data', 'INVALID_ARGUMENT');
  });

  it('reports progress after every step, with batch counts once a batch is read back', async () => {
    const images = gridImages(3, 8);
    const ds = new HostDataset(await images.data<'float32'>(), [3, 4, 4, 1]);
    images.dispose();
    const calls: BpdProgress[] = [];
    const result = await evaluateBpd(epsilon, someModel, ds, { batchSize: 2, seed: 0, onProgress: (p) => calls.push({ ...p }) });
    expect(calls.map((p) => p.stepsDone)).toEqual(Array.from({ length: 2 * T }, (_, i) => i + 1));
    expect(calls.every((p) => p.totalSteps === 2 * T)).toBe(true);
    expect(calls[T - 2]).toMatchObject({ batchesDone: 0, examplesDone: 0, bpd: undefined });
    expect(calls[T - 1]).toMatchObject({ batchesDone: 1, examplesDone: 2 });
    expect(calls[2 * T - 1]).toMatchObject({ batchesDone: 2, examplesDone: 3, bpd: result.bpd });
    // Iterables of unknown length: no totalSteps unless maxBatches bounds it.
    const x = gridImages(1, 9);
    const unknown: BpdProgress[] = [];
    await evaluateBpd(epsilon, someModel, [x], { onProgress: (p) => unknown.push(p) });
    expect(unknown[0]!.totalSteps).toBeUndefined();
    x.dispose();
  });

  it('gives the event loop a turn between batches', async () => {
    let turned = false;
    const sawTurn: boolean[] = [];
    const model: DiffusionModel = (x) => {
      sawTurn.push(turned);
      return tf.mul(x, 0.1);
    };
    const xs = [gridImages(1, 10), gridImages(1, 11)];
    setImmediate(() => (turned = true));
    await evaluateBpd(epsilon, model, xs);
    expect(sawTurn.slice(0, T).some(Boolean)).toBe(false);
    expect(sawTurn.slice(T).every(Boolean)).toBe(true);
    tf.dispose(xs);
  });

  it('stops on abort, mid-batch or before it starts, rejecting with the reason and leaking nothing', async () => {
    const xs = [gridImages(2, 15), gridImages(2, 16)];
    const before = tf.memory().numTensors;
    let calls = 0;
    const model: DiffusionModel = (x) => {
      calls++;
      return tf.mul(x, 0.1);
    };
    const controller = new AbortController();
    const reason = new Error('stop');
    const onProgress = (p: BpdProgress) => {
      if (p.stepsDone === T + 5) controller.abort(reason);
    };
    await expect(evaluateBpd(epsilon, model, xs, { onProgress, signal: controller.signal })).rejects.toBe(reason);
    expect(calls).toBe(T + 5);
    expect(tf.memory().numTensors).toBe(before);
    calls = 0;
    await expect(evaluateBpd(epsilon, model, xs, { signal: controller.signal })).rejects.toBe(reason);
    expect(calls).toBe(0);
    tf.dispose(xs);
  });

  it('refuses bad input, naming the argument, and leaks nothing when a later batch is bad', async () => {
    const x = gridImages(2, 17);
    const before = tf.memory().numTensors;
    await expectRejection(evaluateBpd(epsilon, someModel, new HostDataset(new Float32Array(0), [0, 4, 4, 1])), 'data', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, []), 'data', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, x as never), 'data', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, [[1, 2]] as never), 'data (batch 0)', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, [x, null] as never), 'data (batch 1)', 'INVALID_ARGUMENT');
    const ints = tf.cast(x, 'int32');
    await expectRejection(evaluateBpd(epsilon, someModel, [ints]), 'data (batch 0)', 'INVALID_ARGUMENT');
    const wider = tf.zeros([2, 4, 4, 3]);
    const err = await expectRejection(evaluateBpd(epsilon, someModel, [x, wider]), 'data (batch 1)', 'SHAPE_MISMATCH');
    expect(err.message).toContain('[2,4,4,3]');
    await expectRejection(evaluateBpd({} as never, someModel, [x]), 'diffusion', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, 'unet' as never, [x]), 'model', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, [x], { batchSize: 0 }), 'options.batchSize', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, [x], { maxBatches: 1.5 }), 'options.maxBatches', 'INVALID_ARGUMENT');
    await expectRejection(evaluateBpd(epsilon, someModel, [x], { classConditional: true }), 'data (batch 0).labels', 'INVALID_ARGUMENT');
    tf.dispose([ints, wider]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

for (const backend of NODE_BACKENDS) {
  describe(`evaluateBpd on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('reads back once per batch and leaks nothing', async () => {
      const xs = [gridImages(2, 12), gridImages(2, 13), gridImages(1, 14)];
      const before = tf.memory().numTensors;
      const reads = await countReadbacksAsync(async () => {
        await evaluateBpd(epsilon, someModel, xs, { seed: 0 });
      });
      expect(reads).toBe(3);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(xs);
    });
  });
}
