import * as tf from '@tensorflow/tfjs-core';
import { ADAMW_KERNEL, adamWKernelAvailable, type AdamWKernelAttrs } from '../backends/wasm-gemm/adamw-kernel';
import { DifflibError, describeValue } from '../errors';
import { checkShapedLike, checkTensorsLike, checkVariables } from './checks';

/** Hyperparameters of {@link AdamW}. */
export interface AdamWOptions {
  /** η, the default step size of {@link AdamW.applyGradients}. Default 1e-4 (improved-diffusion's `lr`). */
  learningRate?: number;
  /** β₁, decay of the first moment. Default 0.9. */
  beta1?: number;
  /** β₂, decay of the second moment. Default 0.999. */
  beta2?: number;
  /** ε added to √v̂. Default 1e-8 (PyTorch's; tfjs' Adam defaults to 1e-7). */
  epsilon?: number;
  /** λ, the decoupled weight decay. Default 0 (improved-diffusion's `weight_decay`). */
  weightDecay?: number;
}

/**
 * The optimizer's state, in the order of {@link AdamW.variables}: what a checkpoint
 * must hold to resume bit for bit.
 */
export interface AdamWState {
  /** Number of updates applied so far (t of the bias corrections). */
  step: number;
  /** m, the first-moment estimates, each shaped like its variable. */
  firstMoments: readonly tf.Tensor[];
  /** v, the second-moment estimates, each shaped like its variable. */
  secondMoments: readonly tf.Tensor[];
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight
 * Decay Regularization", Algorithm 2), as PyTorch's `torch.optim.AdamW` that
 * improved-diffusion trains with. tfjs' `tf.train.adam` has only the L2-coupled
 * form. With gradient g at step t (1-based):
 *
 *   m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²,
 *   m̂ = m/(1 − β₁ᵗ),   v̂ = v/(1 − β₂ᵗ),
 *   θ ← θ − η·(m̂/(√v̂ + ε) + λ·θ).
 *
 * The last line is evaluated as PyTorch does, θ·(1 − ηλ) − (η/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε),
 * with every scalar (bias corrections, ηλ) formed in float64 on the host. On wasm with
 * difflib's kernels (`registerWasmTrainingKernels`) each variable's update is one kernel
 * that rounds every operation as the composed ops do, so the results are the same to the
 * bit. The moments
 * are float32 variables made up front (so the live tensor count never changes
 * afterwards); an update reads nothing back. A variable with no gradient in a call
 * is left alone (no decay, no moment update), as in PyTorch.
 *
 * @example
 * ```ts
 * const optimizer = new AdamW(variables, { learningRate: 1e-4, weightDecay: 0.01 });
 * const { value, grads } = tf.variableGrads(() => lossOf(batch), variables);
 * optimizer.applyGradients(grads);
 * tf.dispose([value, grads]);
 * ```
 */
export class AdamW {
  /** The variables updated, in a fixed order (the order of the state). */
  readonly variables: readonly tf.Variable[];
  /** η used when {@link AdamW.applyGradients} is given none. */
  readonly learningRate: number;
  /** β₁. */
  readonly beta1: number;
  /** β₂. */
  readonly beta2: number;
  /** ε. */
  readonly epsilon: number;
  /** λ. */
  readonly weightDecay: number;
  private readonly firstMoments: tf.Variable[];
  private readonly secondMoments: tf.Variable[];
  private readonly indexByName: Map<string, number>;
  private stepCount = 0;

  /**
   * @param variables - float32 variables to optimise (e.g. a LayersModel's
   *   `trainableWeights.map((w) => w.read())`); each appears once.
   * @param options - η, β₁, β₂, ε, λ.
   */
  constructor(variables: readonly tf.Variable[], options: AdamWOptions = {}) {
    const fn = 'AdamW';
    checkVariables(fn, 'variables', variables);
    if (options === null || typeof options !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an options object, got ${describeValue(options)}`);
    }
    this.learningRate = checkHyperparameter(fn, 'learningRate', options.learningRate ?? 1e-4, 0, Infinity);
    this.beta1 = checkHyperparameter(fn, 'beta1', options.beta1 ?? 0.9, 0, 1, true);
    this.beta2 = checkHyperparameter(fn, 'beta2', options.beta2 ?? 0.999, 0, 1, true);
    this.epsilon = checkHyperparameter(fn, 'epsilon', options.epsilon ?? 1e-8, 0, Infinity);
    this.weightDecay = checkHyperparameter(fn, 'weightDecay', options.weightDecay ?? 0, 0, Infinity);
    this.variables = [...variables];
    this.indexByName = new Map(variables.map((v, i) => [v.name, i]));
    const zeros = (v: tf.Variable) => tf.tidy(() => tf.variable(tf.zerosLike(v), false));
    this.firstMoments = variables.map(zeros);
    this.secondMoments = variables.map(zeros);
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * Applies one update from the gradients of the loss (no readback).
   *
   * @param gradients - dL/dθ keyed by variable name (what `tf.variableGrads` returns),
   *   each shaped like its variable. The caller keeps ownership.
   * @param learningRate - η for this step (a schedule's value); defaults to {@link AdamW.learningRate}.
   */
  applyGradients(gradients: Record<string, tf.Tensor> | ReadonlyMap<string, tf.Tensor>, learningRate: number = this.learningRate): void {
    const fn = 'AdamW.applyGradients';
    const entries = this.checkGradients(fn, gradients);
    checkHyperparameter(fn, 'learningRate', learningRate, 0, Infinity, false, 'learningRate');
    const t = this.stepCount + 1;
    const stepSize = learningRate / (1 - this.beta1 ** t);
    const sqrtBiasCorrection2 = Math.sqrt(1 - this.beta2 ** t);
    const decay = 1 - learningRate * this.weightDecay;
    const fused = adamWKernelAvailable();
    const attrs: AdamWKernelAttrs = { beta1: this.beta1, beta2: this.beta2, sqrtBiasCorrection2, epsilon: this.epsilon, stepSize, decay };
    tf.tidy(() => {
      for (const [i, g] of entries) {
        const theta = this.variables[i]!;
        if (fused && g.dtype === 'float32') {
          // The same update in one wasm kernel, to the bit (native/wasm-kernels/adamw.c).
          const inputs = { theta, g, m: this.firstMoments[i]!, v: this.secondMoments[i]! };
          const [next, m, v] = tf.engine().runKernel(ADAMW_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
          theta.assign(next!);
          this.firstMoments[i]!.assign(m!);
          this.secondMoments[i]!.assign(v!);
          continue;
        }
        const m = tf.add(tf.mul(this.firstMoments[i]!, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.secondMoments[i]!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denominator = tf.add(tf.div(tf.sqrt(v), sqrtBiasCorrection2), this.epsilon);
        const decayed = decay === 1 ? theta : tf.mul(theta, decay);
        theta.assign(tf.sub(decayed, tf.mul(tf.div(m, denominator), stepSize)));
        this.firstMoments[i]!.assign(m);
        this.secondMoments[i]!.assign(v);
      }
    });
    this.stepCount = t;
  }

  /** The live state (the optimizer owns these tensors: read them, do not dispose them). */
  getState(): AdamWState {
    return { step: this.stepCount, firstMoments: this.firstMoments, secondMoments: this.secondMoments };
  }

  /**
   * Replaces the state, e.g. from a checkpoint. Values are copied; the caller keeps
   * ownership of the tensors given.
   */
  setState(state: AdamWState): void {
    const fn = 'AdamW.setState';
    if (state === null || typeof state !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'state', `must be { step, firstMoments, secondMoments }, got ${describeValue(state)}`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'state.step', `must be a non-negative integer, got ${describeValue(state.step)}`);
    }
    checkTensorsLike(fn, 'state.firstMoments', state.firstMoments, this.variables);
    checkTensorsLike(fn, 'state.secondMoments', state.secondMoments, this.variables);
    state.firstMoments.forEach((m, i) => this.firstMoments[i]!.assign(m));
    state.secondMoments.forEach((v, i) => this.secondMoments[i]!.assign(v));
    this.stepCount = state.step;
  }

  /** Frees the moments (not the variables optimised). */
  dispose(): void {
    tf.dispose([...this.firstMoments, ...this.secondMoments]);
  }

  private checkGradients(fn: string, gradients: Record<string, tf.Tensor> | ReadonlyMap<string, tf.Tensor>): Array<[number, tf.Tensor]> {
    let named: Array<[string, unknown]>;
    if (gradients instanceof Map) named = [...gradients];
    else if (gradients !== null && typeof gradients === 'object' && !(gradients instanceof tf.Tensor)) named = Object.entries(gradients);
    else {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'gradients', `must be a Map or object of tensors by variable name, got ${describeValue(gradients)}`);
    }
    return named.map(([name, g]) => {
      const i = this.indexByName.get(name);
      if (i === undefined) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'gradients', `names "${name}", which is not one of the optimizer's variables`);
      }
      checkShapedLike(fn, `gradients["${name}"]`, g, this.variables[i]!);
      return [i, g as tf.Tensor];
    });
  }
}

function checkHyperparameter(
  fn: string,
  name: string,
  value: unknown,
  min: number,
  max: number,
  openMax = false,
  arg = `options.${name}`,
): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && (openMax ? value < max : value <= max);
  if (!ok) {
    const range = max === Infinity ? `a finite number >= ${min}` : `a number in [${min}, ${max}${openMax ? ')' : ']'}`;
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be ${range}, got ${describeValue(value)}`);
  }
  return value;
}
