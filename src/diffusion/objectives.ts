import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { discretizedGaussianLogLikelihood } from '../losses/discretized-gaussian';
import { meanFlat } from '../losses/mean-flat';
import { normalKl } from '../losses/normal-kl';
import { standardNormal } from '../random-normal';
import { checkModelOutput, learnsVariance, pMeanVarianceOf, posteriorMean, predictEpsFromXStart, qSampleOf, type Process } from './process';
import { stopGradient } from './stop-gradient';
import { BatchTimesteps } from './timesteps';
import type { BpdLoopResult, ModelCallOptions, TrainingLosses, VbTerms } from './types';

// The objectives of a {@link Process}: improved-diffusion's `training_losses`,
// `_vb_terms_bpd`, `_prior_bpd` and `calc_bpd_loop`. They run on validated arguments;
// `callModel(x_t, ts)` applies the model as the process hands it timesteps.

const LN2 = Math.log(2);

/** The model applied at x_t for a batch of steps. @internal */
export type ModelCall = (x: tf.Tensor, ts: BatchTimesteps) => tf.Tensor;

/**
 * L_simple (+ λ·L_vlb on a stop-gradient mean for learned variances) or L_vlb, per
 * `lossType`, for x_t = q_sample(x_0, t, ε); runs inside a tidy.
 * @internal
 */
export function trainingLossesOf(
  fn: string,
  p: Process,
  callModel: ModelCall,
  xStart: tf.Tensor,
  ts: BatchTimesteps,
  noise: tf.Tensor,
  minSnrWeights: Float64Array | null,
): TrainingLosses {
  const xT = qSampleOf(p, xStart, ts, noise);
  const output = callModel(xT, ts);
  checkModelOutput(fn, p, output, xT);
  if (p.lossType === 'kl' || p.lossType === 'rescaled_kl') {
    const vb = vbTermsOf(fn, p, output, xStart, xT, ts, { clipDenoised: false }).output;
    return { loss: p.lossType === 'rescaled_kl' ? tf.mul(vb, p.numTimesteps) : vb };
  }
  const [prediction, varValues] = learnsVariance(p) ? tf.split(output, 2, -1) : [output];
  const squaredError = meanFlat(tf.squaredDifference(trainingTarget(p, xStart, xT, noise, ts), prediction!));
  const mse: tf.Tensor1D = minSnrWeights ? tf.mul(squaredError, ts.gather(minSnrWeights, 1)) : squaredError;
  if (!varValues) return { loss: mse, mse };
  // L_vlb must not move the mean: it sees a stop-gradient copy of it.
  const frozen = tf.concat([stopGradient(prediction!), varValues], -1);
  const vbTerm = vbTermsOf(fn, p, frozen, xStart, xT, ts, { clipDenoised: false }).output;
  const vb: tf.Tensor1D = p.lossType === 'rescaled_mse' ? tf.mul(vbTerm, p.numTimesteps / 1000) : vbTerm;
  return { loss: tf.add(mse, vb), mse, vb };
}

/** What the mean part of the model output is regressed on in L_simple. */
function trainingTarget(p: Process, xStart: tf.Tensor, xT: tf.Tensor, noise: tf.Tensor, ts: BatchTimesteps): tf.Tensor {
  const rank = xStart.rank;
  switch (p.modelMeanType) {
    case 'previous_x':
      return posteriorMean(p, xStart, xT, ts);
    case 'start_x':
      return xStart;
    case 'v': // v = √ᾱ ε − √(1−ᾱ) x_0 (Salimans & Ho 2022)
      return tf.sub(tf.mul(ts.gather(p.sqrtAlphasCumprod, rank), noise), tf.mul(ts.gather(p.sqrtOneMinusAlphasCumprod, rank), xStart));
    default:
      return noise;
  }
}

/**
 * Min-SNR-γ loss weights (Hang et al. 2023) per step, float64, for this process's
 * prediction target: with SNR_t = ᾱ_t/(1 − ᾱ_t), min(SNR, γ)/SNR for ε, min(SNR, γ) for
 * x_0, min(SNR, γ)/(SNR + 1) for v — each equal to min(SNR, γ) in x_0-space.
 * @internal
 */
export function minSnrWeights(fn: string, p: Process, gamma: unknown): Float64Array {
  if (typeof gamma !== 'number' || !(gamma > 0) || !Number.isFinite(gamma)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.minSnrGamma', `must be a finite number > 0 (5 in the paper), got ${describeValue(gamma)}`);
  }
  if (p.modelMeanType === 'previous_x') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.minSnrGamma', "applies to 'epsilon', 'start_x' and 'v' prediction, not 'previous_x'");
  }
  return p.alphasCumprod.map((a) => {
    const snr = a / (1 - a);
    const clipped = Math.min(snr, gamma);
    if (p.modelMeanType === 'start_x') return clipped;
    if (p.modelMeanType === 'v') return clipped / (snr + 1);
    return snr <= gamma ? 1 : gamma / snr; // = min(SNR, γ)/SNR, also at SNR = 0
  });
}

/**
 * One bound term in bits/dim from the model's output: the decoder NLL where t = 0, else
 * KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)), each a mean over non-batch axes / ln 2.
 * @internal
 */
export function vbTermsOf(fn: string, p: Process, output: tf.Tensor, xStart: tf.Tensor, xT: tf.Tensor, ts: BatchTimesteps, options: ModelCallOptions): VbTerms {
  const trueMean = posteriorMean(p, xStart, xT, ts);
  const trueLogVariance = ts.gather(p.posteriorLogVarianceClipped, xStart.rank);
  const out = pMeanVarianceOf(fn, p, output, xT, ts, options);
  const kl: tf.Tensor1D = tf.div(meanFlat(normalKl(trueMean, trueLogVariance, out.mean, out.logVariance)), LN2);
  const decoderNll: tf.Tensor1D = tf.div(
    meanFlat(discretizedGaussianLogLikelihood(xStart, { means: out.mean, logScales: tf.mul(0.5, out.logVariance) })),
    -LN2,
  );
  return { output: tf.where(ts.isFirstStep(), decoderNll, kl) as tf.Tensor1D, predXStart: out.predXStart };
}

/** L_T = KL(q(x_{T−1} | x_0) ‖ N(0, I)) in bits/dim. @internal */
export function priorBpdOf(p: Process, xStart: tf.Tensor, ts: BatchTimesteps): tf.Tensor1D {
  const rank = xStart.rank;
  const mean = tf.mul(ts.gather(p.sqrtAlphasCumprod, rank), xStart);
  const logVariance = tf.broadcastTo(ts.gather(p.logOneMinusAlphasCumprod, rank), xStart.shape);
  return tf.div(meanFlat(normalKl(mean, logVariance, 0, 0)), LN2) as tf.Tensor1D;
}

/** The options `calcBpdLoopOf` needs, validated. @internal */
export interface BpdLoopInputs {
  clipDenoised: boolean;
  /** ε at step t, or undefined to draw it (seeded with seed + t). */
  noiseAt: (t: number) => tf.Tensor | undefined;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The whole bound, t = T−1 … 0, each term on a fresh x_t, plus L_T; also x̂_0 and ε
 * errors per step. Columns are built in their own tidies and stacked at the end.
 * @internal
 */
export function calcBpdLoopOf(fn: string, p: Process, callModel: ModelCall, xStart: tf.Tensor, inputs: BpdLoopInputs): BpdLoopResult {
  const batch = xStart.shape[0]!;
  const columns: Array<[tf.Tensor1D, tf.Tensor1D, tf.Tensor1D]> = [];
  try {
    for (let t = p.numTimesteps - 1; t >= 0; t--) {
      const noiseAtT = inputs.noiseAt(t);
      columns.push(
        tf.tidy(() => {
          const ts = BatchTimesteps.constant(t, batch);
          const noise = noiseAtT ?? standardNormal(xStart.shape, inputs.seed === undefined ? undefined : inputs.seed + t);
          const xT = qSampleOf(p, xStart, ts, noise);
          const out = vbTermsOf(fn, p, callModel(xT, ts), xStart, xT, ts, { clipDenoised: inputs.clipDenoised });
          const eps = predictEpsFromXStart(p, xT, ts, out.predXStart);
          return [out.output, meanFlat(tf.squaredDifference(out.predXStart, xStart)), meanFlat(tf.squaredDifference(eps, noise))];
        }),
      );
      inputs.onProgress?.(columns.length, p.numTimesteps);
    }
    return tf.tidy((): BpdLoopResult => {
      const [vb, xstartMse, mse] = [0, 1, 2].map((k) => tf.stack(columns.map((c) => c[k]!), 1) as tf.Tensor2D) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const priorBpd = priorBpdOf(p, xStart, BatchTimesteps.constant(p.numTimesteps - 1, batch));
      return { totalBpd: tf.add(tf.sum<tf.Tensor2D>(vb, 1), priorBpd), priorBpd, vb, xstartMse, mse };
    });
  } finally {
    tf.dispose(columns.flat());
  }
}
