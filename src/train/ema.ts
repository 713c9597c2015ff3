import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { checkTensorsLike, checkVariables } from './checks';

/**
 * An exponential moving average of model weights (improved-diffusion's `ema_params`
 * and `update_ema`), kept in its own float32 variables apart from the live weights:
 *
 *   θ_ema ← rate·θ_ema + (1 − rate)·θ.
 *
 * It starts as a copy of the weights. Diffusion models are sampled from the average
 * (rate 0.9999 in Improved DDPM), which is much smoother than the last iterate.
 *
 * With `warmup` the k-th update (k = 0, 1, …) uses min(rate, (1 + k)/(10 + k)) instead
 * of `rate`, as diffusers' `EMAModel` does. improved-diffusion has no warmup, which is
 * right for its 500k-step runs; on a short run the plain average is still mostly the
 * random initialisation (0.999^700 ≈ 0.5) and samples from it are noise.
 *
 * Two ways to use the averaged weights:
 * - {@link withWeights} swaps them into the live variables for the duration of a call
 *   (sync or async) and swaps back, even on error. No second model is needed and the
 *   swap copies nothing (tfjs variables share immutable buffers). The live variables
 *   hold the average meanwhile, so do not train inside it (a {@link Trainer} refuses to).
 * - {@link copyTo} snapshots the average into another model's variables (a second
 *   `createUNet` with the same configuration): a sampler can then run on the copy
 *   while training goes on. This copies no data either until the next {@link update}.
 *
 * @example
 * ```ts
 * const ema = new EMA(unet.model.trainableWeights.map((w) => w.read()), 0.9999);
 * // after each optimizer step:
 * ema.update();
 * const images = await ema.withWeights(() => diffusion.ddimSampleLoop(unet.forward, [4, 32, 32, 3]));
 * const torchBytes = ema.withWeights(() => exportTorchStateDict(unet)); // PyTorch's ema_0.9999.pt
 * ```
 */
export class EMA {
  /** The decay rate, in [0, 1). */
  readonly rate: number;
  /** The live variables averaged. */
  readonly variables: readonly tf.Variable[];
  /** θ_ema, in the order of {@link variables}. Owned by this object: read them, do not dispose or assign them. */
  readonly averages: readonly tf.Variable[];
  /** Whether early updates use the smaller warmup decay (see the class doc). */
  readonly warmup: boolean;
  /** How many updates have been applied (restored from checkpoints by a {@link Trainer}). */
  updates = 0;
  private swapped = false;

  /**
   * @param variables - the live float32 weights to average.
   * @param rate - e.g. 0.9999.
   * @param options - `warmup`: decay min(rate, (1 + k)/(10 + k)) at update k. Default false.
   */
  constructor(variables: readonly tf.Variable[], rate: number, options: { warmup?: boolean } = {}) {
    const fn = 'EMA';
    checkVariables(fn, 'variables', variables);
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'rate', `must be a number in [0, 1), got ${describeValue(rate)}`);
    }
    const warmup = options?.warmup ?? false;
    if (typeof warmup !== 'boolean') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.warmup', `must be a boolean, got ${describeValue(warmup)}`);
    }
    this.rate = rate;
    this.warmup = warmup;
    this.variables = [...variables];
    this.averages = variables.map((v) => tf.variable(v, false));
  }

  /** True while {@link withWeights} has the average swapped into the live variables. */
  get isSwappedIn(): boolean {
    return this.swapped;
  }

  /** The decay the next {@link update} uses: `rate`, or min(rate, (1 + k)/(10 + k)) with warmup. */
  get decay(): number {
    return this.warmup ? Math.min(this.rate, (1 + this.updates) / (10 + this.updates)) : this.rate;
  }

  /** θ_ema ← d·θ_ema + (1 − d)·θ with d = {@link decay}, for every variable (no readback). */
  update(): void {
    if (this.swapped) {
      throw new DifflibError('UNSATISFIABLE', 'EMA.update', 'this', 'cannot update while the average is swapped in by withWeights');
    }
    const d = this.decay;
    tf.tidy(() => {
      this.averages.forEach((average, i) => {
        average.assign(tf.add(tf.mul(average, d), tf.mul(this.variables[i]!, 1 - d)));
      });
    });
    this.updates += 1;
  }

  /**
   * Runs `fn` with the averaged weights in the live variables, then puts the live
   * weights back (also when `fn` throws or its promise rejects).
   *
   * @param fn - e.g. a sampling loop over the model; may return a promise.
   * @returns what `fn` returns.
   */
  withWeights<R>(fn: () => R): R {
    if (typeof fn !== 'function') {
      throw new DifflibError('INVALID_ARGUMENT', 'EMA.withWeights', 'fn', `must be a function, got ${describeValue(fn)}`);
    }
    if (this.swapped) {
      throw new DifflibError('UNSATISFIABLE', 'EMA.withWeights', 'fn', 'was called while the average is already swapped in');
    }
    this.swap();
    let result: R;
    try {
      result = fn();
    } catch (e) {
      this.swap();
      throw e;
    }
    if (result instanceof Promise) return result.finally(() => this.swap()) as R;
    this.swap();
    return result;
  }

  /**
   * Copies the average into other variables of the same shapes, in order (e.g. the
   * trainable weights of a second model built with the same configuration).
   */
  copyTo(target: readonly tf.Variable[]): void {
    const fn = 'EMA.copyTo';
    checkTensorsLike(fn, 'target', target, this.averages).forEach((v, i) => {
      if (!(v instanceof tf.Variable)) {
        throw new DifflibError('INVALID_ARGUMENT', fn, `target[${i}]`, `must be a tf.Variable, got ${describeValue(v)}`);
      }
    });
    target.forEach((v, i) => v.assign(this.averages[i]!));
  }

  /** Replaces the average, e.g. from a checkpoint (values are copied; the caller keeps its tensors). */
  setAverages(values: readonly tf.Tensor[]): void {
    checkTensorsLike('EMA.setAverages', 'values', values, this.averages);
    values.forEach((v, i) => this.averages[i]!.assign(v));
  }

  /** Frees the averages (not the live variables). */
  dispose(): void {
    tf.dispose(this.averages as tf.Variable[]);
  }

  /** Exchanges the live and averaged values; tensors are immutable, so nothing is copied. */
  private swap(): void {
    tf.tidy(() => {
      this.variables.forEach((live, i) => {
        const held = tf.clone(live);
        live.assign(this.averages[i]!);
        this.averages[i]!.assign(held);
      });
    });
    this.swapped = !this.swapped;
  }
}
