import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { denoisingScoreMatchingLoss, geometricSigmas, type ScoreModel } from '../../src/score';
import { NODE_BACKENDS, useBackend } from '../backends';
import { countReadbacks, expectDifflibError, expectNoLeak } from '../helpers';
import { gaussianScore, moments } from './gaussian-score';

const FN = 'denoisingScoreMatchingLoss';
const D = 16;
/** Data N(μ, s² I): s = 0.5, μ spread over [−0.5, 0.5] so every dimension differs. */
const S2 = 0.25;
const MU = Array.from({ length: D }, (_, d) => -0.5 + d / (D - 1));
const SIGMAS = geometricSigmas(2, 0.05, 4);

for (const backend of NODE_BACKENDS) {
  describe(`denoisingScoreMatchingLoss on ${backend}`, () => {
    let mu: tf.Tensor1D;
    beforeAll(async () => {
      await useBackend(backend);
      mu = tf.tensor1d(MU);
    });
    afterAll(() => mu.dispose());

    /** n draws of N(μ, s² I), [n, D]. */
    const gaussianData = (n: number, seed: number): tf.Tensor2D =>
      tf.tidy(() => tf.add(mu, tf.mul(tf.randomNormal([n, D], 0, 1, 'float32', seed), Math.sqrt(S2))));

    it('is ½σ²‖s_θ(x̃, σ) + (x̃ − x)/σ²‖² with x̃ = x + σz and each example’s σ from the table', () => {
      const levels = [0, 3, 1, 2, 3, 0];
      const x = tf.randomUniform([6, 2, 2, 2], -1, 1, 'float32', 1);
      const z = tf.randomNormal([6, 2, 2, 2], 0, 1, 'float32', 2);
      const seen: { xTilde: number[]; sigmas: number[] }[] = [];
      // A score that is not the true one, so the loss is not a plain function of z.
      const model: ScoreModel = (xt, sig) => {
        seen.push({ xTilde: Array.from(xt.dataSync()), sigmas: Array.from(sig.dataSync()) });
        return tf.tidy(() => tf.sub(tf.div(tf.tanh(xt), tf.reshape(sig, [-1, 1, 1, 1])), tf.mul(xt, 0.3)));
      };
      const loss = denoisingScoreMatchingLoss(model, x, levels, SIGMAS, { noise: z });
      const [xs, zs, got] = [x.dataSync(), z.dataSync(), loss.dataSync()];

      expect(loss.shape).toEqual([6]);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.sigmas).toEqual(levels.map((i) => Math.fround(SIGMAS[i]!)));
      for (let b = 0; b < 6; b++) {
        const sigma = Math.fround(SIGMAS[levels[b]!]!);
        let sum = 0;
        for (let k = b * 8; k < b * 8 + 8; k++) {
          const xTilde = xs[k]! + sigma * zs[k]!;
          // x̃ is formed in float32: one rounding of x + σz.
          expect(seen[0]!.xTilde[k]).toBeCloseTo(xTilde, 6);
          const score = Math.tanh(xTilde) / sigma - 0.3 * xTilde;
          sum += (score + (xTilde - xs[k]!) / sigma ** 2) ** 2;
        }
        const expected = 0.5 * sigma ** 2 * sum;
        // float32 evaluation of 8 squared terms: a few ulps (1.2e-7 each) of relative error.
        expect(Math.abs(got[b]! - expected), `example ${b}`).toBeLessThan(1e-5 * expected);
      }
      tf.dispose([x, z, loss]);
    });

    it('gives the same loss for levels as an array, an Int32Array, an int32 tensor or one number', () => {
      const x = gaussianData(4, 3);
      const z = tf.randomNormal([4, D], 0, 1, 'float32', 4);
      const model = gaussianScore(mu, S2, { scale: 0.7 });
      const run = (levels: Parameters<typeof denoisingScoreMatchingLoss>[2]) =>
        Array.from(tf.tidy(() => denoisingScoreMatchingLoss(model, x, levels, SIGMAS, { noise: z })).dataSync());
      const reference = run([2, 0, 3, 1]);
      expect(run(Int32Array.from([2, 0, 3, 1]))).toEqual(reference);
      const levelsTensor = tf.tensor1d([2, 0, 3, 1], 'int32');
      expect(run(levelsTensor)).toEqual(reference);
      expect(run(2)).toEqual(run([2, 2, 2, 2]));
      tf.dispose([x, z, levelsTensor]);
    });

    it('at the true score of N(μ, s²I) data has mean D/2 · s²/(s²+σ²) at every level', () => {
      // σ s* + z = (s² z − σ s u)/(s²+σ²) with x = μ + s u, u ⊥ z standard normal: a
      // N(0, v) variable per dimension with v = s²/(s²+σ²), so the per-example loss is
      // (v/2) χ²_D: mean vD/2, standard deviation (v/2)√(2D).
      const perLevel = 1024;
      const levels = Int32Array.from({ length: 4 * perLevel }, (_, b) => b % 4);
      const x = gaussianData(levels.length, 5);
      const loss = denoisingScoreMatchingLoss(gaussianScore(mu, S2), x, levels, SIGMAS, { seed: 6 });
      const values = loss.dataSync();
      for (let i = 0; i < 4; i++) {
        const atLevel = values.filter((_, b) => levels[b] === i);
        const v = S2 / (S2 + SIGMAS[i]! ** 2);
        const expected = (v * D) / 2;
        const standardError = ((v / 2) * Math.sqrt(2 * D)) / Math.sqrt(perLevel);
        // 4 standard errors: a seeded draw, and a 1-in-15000 chance for a correct formula.
        expect(Math.abs(moments(atLevel).mean - expected), `level ${i}, σ = ${SIGMAS[i]}`).toBeLessThan(4 * standardError);
      }
      tf.dispose([x, loss]);
    });

    it('charges a wrong score ½σ² E‖s − s*‖² more than the true score (Vincent’s identity)', () => {
      // Per example, ℓ(s) − ℓ(s*) = ½σ²‖s − s*‖² + σ (s − s*)·(σ s* + z); the last term has
      // mean zero. For s = c·s*: E‖s − s*‖² = (c−1)² D/(s²+σ²); for s = s* + δ: D δ².
      const n = 4096;
      const x = gaussianData(n, 7);
      const z = tf.randomNormal([n, D], 0, 1, 'float32', 8);
      for (let i = 0; i < SIGMAS.length; i++) {
        const sigma = SIGMAS[i]!;
        const lossOf = (model: ScoreModel) => tf.tidy(() => denoisingScoreMatchingLoss(model, x, i, SIGMAS, { noise: z })).dataSync();
        const truth = lossOf(gaussianScore(mu, S2));
        // λ(σ) = σ² shrinks the error at small σ, so the errors scale with it to give every
        // level the same expected excess ½·D·0.2² = 0.32: |c − 1| = 0.2·√(s²+σ²)/σ, δ = 0.2/σ.
        const dc = (0.2 * Math.sqrt(S2 + sigma ** 2)) / sigma;
        const delta = 0.2 / sigma;
        const wrong: Array<[string, ScoreModel, number]> = [
          [`${1 - dc} s*`, gaussianScore(mu, S2, { scale: 1 - dc }), (dc ** 2 * D) / (S2 + sigma ** 2)],
          [`${1 + dc} s*`, gaussianScore(mu, S2, { scale: 1 + dc }), (dc ** 2 * D) / (S2 + sigma ** 2)],
          ['s* + δ', gaussianScore(mu, S2, { shift: delta }), D * delta ** 2],
          ['s* − δ', gaussianScore(mu, S2, { shift: -delta }), D * delta ** 2],
        ];
        for (const [label, model, squaredError] of wrong) {
          const diff = moments(Float64Array.from(lossOf(model), (l, b) => l - truth[b]!));
          const expected = 0.5 * sigma ** 2 * squaredError;
          // Paired noise leaves only the zero-mean cross term; 4 standard errors of the mean.
          const standardError = Math.sqrt(diff.variance / n);
          expect(diff.mean, `${label} at σ = ${sigma}`).toBeGreaterThan(0);
          expect(Math.abs(diff.mean - expected), `${label} at σ = ${sigma}`).toBeLessThan(4 * standardError);
          expect(expected, `${label} at σ = ${sigma} is detectable`).toBeGreaterThan(8 * standardError);
        }
      }
      tf.dispose([x, z]);
    });

    it('is differentiable in the model’s variables: tf.variableGrads matches the analytic gradient', () => {
      // Affine score s = a·x̃ + b: ∂ℓ/∂a = Σ σ x̃ r, ∂ℓ/∂b_d = Σ_b σ r_d with r = σ s + z.
      const levels = [0, 1, 2, 3, 3, 1, 0, 2];
      const x = gaussianData(8, 9);
      const z = tf.randomNormal([8, D], 0, 1, 'float32', 10);
      const a = tf.variable(tf.scalar(-0.8));
      const b = tf.variable(tf.linspace(-0.3, 0.4, D));
      const model: ScoreModel = (xt) => tf.add(tf.mul(a, xt), b);
      const { value, grads } = tf.variableGrads(() => tf.mean(denoisingScoreMatchingLoss(model, x, levels, SIGMAS, { noise: z })) as tf.Scalar);

      const [xs, zs, av, bv] = [x.dataSync(), z.dataSync(), a.dataSync()[0]!, b.dataSync()];
      let loss = 0;
      let gradA = 0;
      const gradB = new Float64Array(D);
      levels.forEach((level, n) => {
        const sigma = Math.fround(SIGMAS[level]!);
        for (let d = 0; d < D; d++) {
          const k = n * D + d;
          const xTilde = xs[k]! + sigma * zs[k]!;
          const r = sigma * (av * xTilde + bv[d]!) + zs[k]!;
          loss += (0.5 * r * r) / levels.length;
          gradA += (sigma * xTilde * r) / levels.length;
          gradB[d]! += (sigma * r) / levels.length;
        }
      });
      // float32 sums of 128 terms: relative error well under 1e-5.
      expect(value.dataSync()[0]).toBeCloseTo(loss, 4);
      expect(Math.abs(grads[a.name]!.dataSync()[0]! - gradA)).toBeLessThan(1e-5 * Math.abs(gradA) + 1e-6);
      const gotB = grads[b.name]!.dataSync();
      for (let d = 0; d < D; d++) expect(Math.abs(gotB[d]! - gradB[d]!), `b[${d}]`).toBeLessThan(1e-5);
      tf.dispose([x, z, a, b, value, grads]);
    });

    it('leaks no tensor, reads nothing back, and leaves the caller’s tensors alone', () => {
      const x = gaussianData(4, 11);
      const z = tf.randomNormal([4, D], 0, 1, 'float32', 12);
      const levels = tf.tensor1d([3, 2, 1, 0], 'int32');
      const model = gaussianScore(mu, S2);
      expectNoLeak(() => denoisingScoreMatchingLoss(model, x, [0, 1, 2, 3], SIGMAS));
      expectNoLeak(() => denoisingScoreMatchingLoss(model, x, levels, SIGMAS, { noise: z }));
      expectNoLeak(() => denoisingScoreMatchingLoss(model, x, 1, SIGMAS, { seed: 3 }));
      expect(countReadbacks(() => tf.dispose(denoisingScoreMatchingLoss(model, x, [0, 1, 2, 3], SIGMAS)))).toBe(0);
      expect(countReadbacks(() => tf.dispose(denoisingScoreMatchingLoss(model, x, levels, SIGMAS, { noise: z })))).toBe(0);
      expect([x, z, levels].some((t) => t.isDisposed)).toBe(false);
      tf.dispose([x, z, levels]);
    });

    it('is reproducible with a seed', () => {
      const x = gaussianData(4, 13);
      const model = gaussianScore(mu, S2, { scale: 0.5 });
      const run = (seed: number) => Array.from(tf.tidy(() => denoisingScoreMatchingLoss(model, x, [0, 1, 2, 3], SIGMAS, { seed })).dataSync());
      expect(run(5)).toEqual(run(5));
      expect(run(5)).not.toEqual(run(6));
      x.dispose();
    });

    it('refuses bad input before making a tensor, naming the argument', () => {
      const x = gaussianData(2, 14);
      const model = gaussianScore(mu, S2);
      const call = (...args: unknown[]) => () =>
        (denoisingScoreMatchingLoss as (...a: unknown[]) => unknown)(...(args.length ? args : [model, x, [0, 1], SIGMAS]));
      const floatLevels = tf.tensor1d([0, 1], 'float32');
      const levels2d = tf.tensor2d([[0], [1]], [2, 1], 'int32');
      const xInt = tf.cast(x, 'int32');
      const wrongNoise = tf.zeros([2, D + 1]);
      try {
        expectDifflibError(call(null, x, [0, 1], SIGMAS), FN, 'scoreModel', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, [[0.1], [0.2]], [0, 1], SIGMAS), FN, 'x', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, xInt, [0, 1], SIGMAS), FN, 'x', 'INVALID_ARGUMENT');
        const err = expectDifflibError(call(model, x, [0, 4], SIGMAS), FN, 'sigmaIndices', 'OUT_OF_RANGE');
        expect(err.message).toBe('denoisingScoreMatchingLoss: sigmaIndices must lie in [0, 3], got 4 at index 1');
        expectDifflibError(call(model, x, [0, 1.5], SIGMAS), FN, 'sigmaIndices', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, x, -1, SIGMAS), FN, 'sigmaIndices', 'OUT_OF_RANGE');
        expectDifflibError(call(model, x, [0, 1, 2], SIGMAS), FN, 'sigmaIndices', 'SHAPE_MISMATCH');
        expectDifflibError(call(model, x, floatLevels, SIGMAS), FN, 'sigmaIndices', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, x, levels2d, SIGMAS), FN, 'sigmaIndices', 'SHAPE_MISMATCH');
        expectDifflibError(call(model, x, [0, 1], []), FN, 'sigmas', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, x, [0, 1], [1, 0]), FN, 'sigmas', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, x, [0, 1], [1, NaN]), FN, 'sigmas', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, x, [0, 1], floatLevels), FN, 'sigmas', 'INVALID_ARGUMENT');
        expectDifflibError(call(model, x, [0, 1], SIGMAS, { noise: wrongNoise }), FN, 'options.noise', 'SHAPE_MISMATCH');
        expectDifflibError(call(model, x, [0, 1], SIGMAS, { seed: '1' }), FN, 'options.seed', 'INVALID_ARGUMENT');
        // A model that reduces away a dimension is caught after the call, and what it made is freed.
        const reducing: ScoreModel = (xt) => tf.sum(xt, 1, true);
        const err2 = expectDifflibError(call(reducing, x, [0, 1], SIGMAS), FN, 'scoreModel output', 'SHAPE_MISMATCH');
        expect(err2.message).toBe(`denoisingScoreMatchingLoss: scoreModel output must have shape [2,${D}] (x's), got shape [2,1]`);
      } finally {
        tf.dispose([x, floatLevels, levels2d, xInt, wrongNoise]);
      }
    });
  });
}
