import * as tf from '@tensorflow/tfjs-core';
import { HostDataset, type DataBatch } from '../data/host-dataset';
import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import type { DiffusionModel, ModelKwargs } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { checkInteger, checkSeed, checkTensor, shapeString } from '../validate';
import { yieldToEventLoop } from '../event-loop';

/** Where {@link evaluateBpd} stands, passed to `onProgress`. */
export interface BpdProgress {
  /** Batches whose numbers have been read back. */
  batchesDone: number;
  /** Examples in those batches. */
  examplesDone: number;
  /** Bound terms L_t evaluated so far, over all batches (T per batch). */
  stepsDone: number;
  /** T × the number of batches, when it is known in advance (a {@link HostDataset}, or `maxBatches`). */
  totalSteps?: number;
  /** Mean bits/dim over the examples done so far; absent before the first batch is done. */
  bpd?: number;
}

/** Options of {@link evaluateBpd}. */
export interface EvaluateBpdOptions {
  /** Clip x̂_0 to [−1, 1] in every term. Default true (improved-diffusion's `image_nll.py`). */
  clipDenoised?: boolean;
  /** Passed as the model's third argument (with `y` added per batch when `classConditional`). */
  modelKwargs?: ModelKwargs;
  /** Pass each batch's labels to the model as `modelKwargs.y` (class-conditional models). Default false. */
  classConditional?: boolean;
  /** Examples per batch when `data` is a {@link HostDataset}. Default 64. */
  batchSize?: number;
  /** Stop after this many batches. */
  maxBatches?: number;
  /**
   * Seed of the noise: batch b is evaluated by `calcBpdLoop` with seed + b·T (step t of
   * it draws with seed + b·T + t), so a run is reproducible on a backend.
   */
  seed?: number;
  /**
   * Called after every step of every batch. The call for a batch's last step comes once
   * its numbers are read back, with `batchesDone`, `examplesDone` and `bpd` updated.
   */
  onProgress?: (progress: BpdProgress) => void;
  /**
   * Stops the evaluation between batches (a batch's T steps run synchronously, so an abort
   * from elsewhere takes effect when the batch ends; one from `onProgress` stops it at once);
   * it then rejects with the signal's reason and leaks nothing.
   */
  signal?: AbortSignal;
}

/** The variational bound on a dataset, averaged over its examples. */
export interface BpdEvaluation {
  /** Mean negative log-likelihood bound, Σ_t L_t + L_T, in bits/dim. */
  bpd: number;
  /** Standard error of that mean over examples (std/√N; 0 for a single example). */
  bpdStandardError: number;
  /** Mean prior term L_T in bits/dim. */
  priorBpd: number;
  /** Mean L_t in bits/dim, [T]; entry t holds step t (indexed by t, not calcBpdLoop's loop order). */
  vbPerStep: Float64Array;
  /** Mean ‖x̂_0 − x_0‖² per element at each step, [T], indexed by t. */
  xstartMsePerStep: Float64Array;
  /** Mean ‖ε̂ − ε‖² per element at each step, [T], indexed by t. */
  msePerStep: Float64Array;
  /** Examples evaluated. */
  examples: number;
  /** Batches evaluated. */
  batches: number;
}

/** What {@link evaluateBpd} reads: a dataset, or batches of x_0 (tensors, or {@link DataBatch}es). */
export type BpdData = HostDataset | Iterable<tf.Tensor | DataBatch> | AsyncIterable<tf.Tensor | DataBatch>;

/**
 * The negative log-likelihood bound of data under a diffusion model, in bits per
 * dimension (improved-diffusion's `scripts/image_nll.py`): for each batch x_0,
 * {@link GaussianDiffusion.calcBpdLoop} evaluates every term of
 *
 *   −log p_θ(x_0) ≤ L_0 + Σ_{t≥1} L_t + L_T,
 *
 * and the per-example totals are averaged over all examples (image_nll.py averages
 * per-batch means instead, which weights a short last batch too much). Data must lie
 * on the 8-bit grid x = k/127.5 − 1 for L_0 to be a likelihood.
 *
 * Each batch runs T model calls synchronously, then its numbers are read back once,
 * then the event loop gets a turn. Tensors yielded by an iterable stay the caller's:
 * to free them as it goes, a generator can dispose each batch when resumed
 * (`const x = make(); yield x; x.dispose();`); a {@link HostDataset} is batched and
 * disposed here.
 *
 * @param diffusion - the process (respaced or not).
 * @param model - the network.
 * @param data - x_0 in batches [B, …, C] float32, all with the same example shape, or a dataset.
 * @returns the mean bound and its terms.
 *
 * @example
 * ```ts
 * const test = digitsFromMnist(mnist, { split: 'test', size: 32 });
 * const { bpd } = await evaluateBpd(diffusion, model, test, { batchSize: 50, seed: 0 });
 * ```
 */
export async function evaluateBpd(
  diffusion: GaussianDiffusion,
  model: DiffusionModel,
  data: BpdData,
  options: EvaluateBpdOptions = {},
): Promise<BpdEvaluation> {
  const fn = 'evaluateBpd';
  if (!(diffusion instanceof GaussianDiffusion)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'diffusion', `must be a GaussianDiffusion, got ${describeValue(diffusion)}`);
  }
  if (typeof model !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'model', `must be a function (x, t, kwargs?) => tf.Tensor, got ${describeValue(model)}`);
  }
  const batchSize = checkInteger(fn, 'options.batchSize', options.batchSize ?? 64, { min: 1 });
  const maxBatches = options.maxBatches === undefined ? Infinity : checkInteger(fn, 'options.maxBatches', options.maxBatches, { min: 1 });
  const seed = checkSeed(fn, 'options.seed', options.seed);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.onProgress', `must be a function, got ${describeValue(options.onProgress)}`);
  }
  const isDataset = data instanceof HostDataset;
  if (isDataset) {
    if (data.length === 0) throw new DifflibError('INVALID_ARGUMENT', fn, 'data', 'is an empty dataset');
    if (options.classConditional && !data.labels) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'data', 'has no labels, but options.classConditional is set');
    }
  } else if (!isIterable(data)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'data', `must be a HostDataset or an (async) iterable of tensors, got ${describeValue(data)}`);
  }

  const T = diffusion.numTimesteps;
  const totalSteps = isDataset ? T * Math.min(maxBatches, Math.ceil(data.length / batchSize)) : maxBatches < Infinity ? T * maxBatches : undefined;
  const sums = new BpdSums(T);
  let exampleShape: readonly number[] | null = null;
  const source = isDataset ? data.batches(batchSize, { shuffle: false }) : data;
  const report = (stepsDone: number): void => {
    options.onProgress?.({ batchesDone: sums.batches, examplesDone: sums.examples, stepsDone, totalSteps, bpd: sums.meanBpd() });
  };

  options.signal?.throwIfAborted();
  for await (const item of source as AsyncIterable<tf.Tensor | DataBatch>) {
    const batch: Partial<DataBatch> = item instanceof tf.Tensor ? { x: item } : typeof item === 'object' && item !== null ? item : {};
    try {
      const arg = `data (batch ${sums.batches})`;
      const x = checkTensor(fn, arg, batch.x, { minRank: 2 });
      if (x.shape[0] === 0) throw new DifflibError('SHAPE_MISMATCH', fn, arg, 'is an empty batch');
      exampleShape ??= x.shape.slice(1);
      if (!tf.util.arraysEqual(x.shape.slice(1), exampleShape as number[])) {
        throw new DifflibError('SHAPE_MISMATCH', fn, arg, `has shape ${shapeString(x.shape)} but the first batch had examples of shape ${shapeString(exampleShape)}`);
      }
      const modelKwargs = options.classConditional ? { ...options.modelKwargs, y: checkLabels(fn, `${arg}.labels`, batch.labels, x) } : options.modelKwargs;
      const stepsBefore = sums.batches * T;
      const result = diffusion.calcBpdLoop(model, x, {
        clipDenoised: options.clipDenoised ?? true,
        modelKwargs,
        seed: seed === undefined ? undefined : seed + sums.batches * T,
        onProgress: (done) => {
          if (done < T) report(stepsBefore + done);
          options.signal?.throwIfAborted();
        },
      });
      // One readback per batch: [total, prior, vb (T), xstartMse (T), mse (T)] per example.
      const packed = tf.tidy(() =>
        tf.concat([tf.expandDims(result.totalBpd, 1), tf.expandDims(result.priorBpd, 1), result.vb, result.xstartMse, result.mse], 1),
      );
      tf.dispose(result);
      let values: Float32Array;
      try {
        values = await packed.data<'float32'>();
      } finally {
        packed.dispose();
      }
      sums.add(values, x.shape[0]!);
    } finally {
      if (isDataset) tf.dispose(item as DataBatch);
    }
    report(sums.batches * T);
    options.signal?.throwIfAborted();
    if (sums.batches >= maxBatches) break;
    await yieldToEventLoop();
    options.signal?.throwIfAborted();
  }
  if (sums.examples === 0) throw new DifflibError('INVALID_ARGUMENT', fn, 'data', 'yielded no batches');
  return sums.result();
}

/** Float64 running sums over examples of every number calcBpdLoop reports. */
class BpdSums {
  batches = 0;
  examples = 0;
  private total = 0;
  private totalSquares = 0;
  private prior = 0;
  private readonly perStep: [Float64Array, Float64Array, Float64Array];

  constructor(private readonly numTimesteps: number) {
    this.perStep = [new Float64Array(numTimesteps), new Float64Array(numTimesteps), new Float64Array(numTimesteps)];
  }

  /** Adds a batch read back as rows [total, prior, vb (T), xstartMse (T), mse (T)], loop order. */
  add(values: Float32Array, batch: number): void {
    const T = this.numTimesteps;
    const width = 2 + 3 * T;
    for (let b = 0; b < batch; b++) {
      const row = b * width;
      this.total += values[row]!;
      this.totalSquares += values[row]! ** 2;
      this.prior += values[row + 1]!;
      for (let k = 0; k < 3; k++) {
        const sums = this.perStep[k]!;
        // Column j of calcBpdLoop holds t = T − 1 − j.
        for (let j = 0; j < T; j++) sums[T - 1 - j]! += values[row + 2 + k * T + j]!;
      }
    }
    this.batches++;
    this.examples += batch;
  }

  meanBpd(): number | undefined {
    return this.examples === 0 ? undefined : this.total / this.examples;
  }

  result(): BpdEvaluation {
    const n = this.examples;
    const mean = this.total / n;
    const variance = n > 1 ? Math.max(0, (this.totalSquares - n * mean * mean) / (n - 1)) : 0;
    const [vb, xstartMse, mse] = this.perStep.map((s) => s.map((v) => v / n)) as [Float64Array, Float64Array, Float64Array];
    return {
      bpd: mean,
      bpdStandardError: Math.sqrt(variance / n),
      priorBpd: this.prior / n,
      vbPerStep: vb,
      xstartMsePerStep: xstartMse,
      msePerStep: mse,
      examples: n,
      batches: this.batches,
    };
  }
}

function checkLabels(fn: string, arg: string, labels: tf.Tensor1D | undefined, x: tf.Tensor): tf.Tensor1D {
  if (labels === undefined) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, 'are missing, but options.classConditional is set: yield { x, labels } batches');
  }
  checkTensor(fn, arg, labels, { minRank: 1, dtype: 'int32' });
  if (labels.rank !== 1 || labels.shape[0] !== x.shape[0]) {
    throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must have shape [${x.shape[0]}], got ${shapeString(labels.shape)}`);
  }
  return labels;
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}
