import * as tf from '@tensorflow/tfjs-core';
import { checkWasmGradientKernels, gradientTapeLength } from '../backends/wasm-gradient-check';
import { DifflibError, describeValue } from '../errors';
import { checkSameShape, checkSeed, checkTensor } from '../validate';
import { checkSigmaIndices, checkSigmas, gatherSigmas, type SigmaIndicesInput } from './noise-levels';
import { evaluateScore, type ScoreModel } from './score-model';
import { standardNormal } from '../random-normal';

/** Options of {@link denoisingScoreMatchingLoss}. */
export interface DenoisingScoreMatchingOptions {
  /** z ~ N(0, I) forming x̃ = x + σ z, x's shape (the caller owns it); drawn (with `seed`) when absent. */
  noise?: tf.Tensor;
  /** Seed for the noise draw when no noise is given. */
  seed?: number;
}

/**
 * The annealed denoising score matching loss of NCSN (Song & Ermon 2019, eqs. 5–6), per
 * example: with x̃ = x + σ z, z ~ N(0, I),
 *
 *   λ(σ) · ℓ(θ; σ) = σ² · ½ ‖s_θ(x̃, σ) + (x̃ − x)/σ²‖₂² = ½ ‖σ s_θ(x̃, σ) + z‖₂²,
 *
 * with λ(σ) = σ², which makes every level's term O(1) (since ‖σ s_θ‖ ≈ ‖z‖). Its
 * expectation over x and z is minimised by the score of the perturbed data,
 * s_θ(x̃, σ) = ∇ log q_σ(x̃) (Vincent 2011).
 *
 * The norm is a sum over every non-batch axis, as in the paper and in NCSN's
 * `anneal_dsm_score_estimation`, so losses and learning rates carry over from them; divide
 * by the number of dimensions for a per-dimension loss. The right-hand form, with z
 * rather than (x̃ − x)/σ, avoids float32 cancellation when σ is small next to x.
 *
 * @param scoreModel - s_θ(x̃, σ); gets x̃ [B, …] and σ as a float32 Tensor1D [B].
 * @param x - clean data, float32 [B, …].
 * @param sigmaIndices - the level of each example, i ∈ [0, L−1] into `sigmas`.
 * @param sigmas - the float64 table σ_1 … σ_L (e.g. {@link geometricSigmas}); each
 *   example's σ is gathered from it into float32.
 * @param options - explicit noise or a seed.
 * @returns the per-example loss, float32 [B]; average it over the batch to train
 *   (NCSN draws levels uniformly, so the plain mean is its objective, eq. 6).
 *
 * @example
 * ```ts
 * const sigmas = geometricSigmas(1, 0.01, 10);
 * const { value, grads } = tf.variableGrads(() =>
 *   tf.mean(denoisingScoreMatchingLoss(model, x, [0, 9, 3, 5], sigmas)) as tf.Scalar);
 * ```
 */
export function denoisingScoreMatchingLoss<X extends tf.Tensor>(
  scoreModel: ScoreModel<X>,
  x: X,
  sigmaIndices: SigmaIndicesInput,
  sigmas: ArrayLike<number>,
  options: DenoisingScoreMatchingOptions = {},
): tf.Tensor1D {
  const fn = 'denoisingScoreMatchingLoss';
  if (typeof scoreModel !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'scoreModel', `must be a function (x, sigmas) => score, got ${describeValue(scoreModel)}`);
  }
  checkTensor(fn, 'x', x, { minRank: 1 });
  const table = checkSigmas(fn, sigmas, { decreasing: false });
  const batchSize = x.shape[0]!;
  const indices = checkSigmaIndices(fn, sigmaIndices, table.length, batchSize, 'x');
  const { noise, seed } = options ?? {};
  if (noise !== undefined) {
    checkTensor(fn, 'options.noise', noise);
    checkSameShape(fn, 'x', x, 'options.noise', noise);
  }
  checkSeed(fn, 'options.seed', seed);
  return tf.tidy(() => {
    const sigmaBatch = gatherSigmas(indices, table);
    const sigma = tf.reshape(sigmaBatch, [batchSize, ...new Array<number>(x.rank - 1).fill(1)]);
    const z = noise ?? standardNormal(x.shape, seed);
    const xTilde = tf.add(x, tf.mul(sigma, z)) as X;
    const tapeStart = gradientTapeLength();
    const score = evaluateScore(fn, scoreModel, xTilde, sigmaBatch);
    checkWasmGradientKernels(fn, 'scoreModel', tapeStart);
    const residual = tf.reshape(tf.add(tf.mul(sigma, score), z), [batchSize, -1]);
    return tf.mul(tf.sum(tf.square(residual), 1), 0.5) as tf.Tensor1D;
  });
}
