import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DifflibError, describeValue } from '../errors';
import { checkTensor, shapeString } from '../validate';
import { registerWasmTrainingKernels } from '../backends/wasm-training-kernels';
import { registerUNetLayers } from './register-unet-layers';
import { buildUNetGraph } from './unet-builder';
import { resolveUNetConfig, type ResolvedUNetConfig, type UNetConfig } from './unet-config';

/** The third argument of {@link UNet.forward}: class labels and the training flag. */
export interface UNetKwargs {
  /** [B] int32 class labels, for a class-conditional model. */
  y?: tf.Tensor1D;
  /** Apply dropout (training). Default false. */
  training?: boolean;
}

/**
 * An ADM U-Net (improved-diffusion / guided-diffusion `UNetModel`) on tfjs-layers,
 * built by {@link createUNet}. `forward` is a {@link DiffusionModel}: pass
 * `unet.forward` to any {@link GaussianDiffusion} method. It maps x_t
 * [B, imageSize, imageSize, inChannels] and timesteps t [B] (plus labels y [B] for a
 * class-conditional model) to the prediction, e.g. ε_θ(x_t, t), as
 * [B, imageSize, imageSize, outChannels]; with `learnSigma` the first half of the
 * channels is the mean part and the second half the variance part.
 *
 * @example
 * ```ts
 * const unet = createUNet({ imageSize: 32, inChannels: 1, modelChannels: 32, outChannels: 1,
 *   numResBlocks: 1, attentionResolutions: [], channelMult: [1, 2] });
 * const x = tf.randomNormal([4, 32, 32, 1]);
 * const eps = unet.forward(x, tf.tensor1d([0, 250, 500, 999], 'int32')); // [4, 32, 32, 1]
 * ```
 */
export class UNet {
  /** The configuration with every default filled in. */
  readonly config: ResolvedUNetConfig;
  /** The tfjs-layers model: inputs `x` [B,S,S,C], `timesteps` [B,1] float32 (and `y` [B,1] int32); output [B,S,S,outChannels]. */
  readonly model: tfl.LayersModel;
  private readonly blocks: Map<string, tfl.SymbolicTensor>;
  private probe: tfl.LayersModel | null = null;

  /** @internal Use {@link createUNet}. */
  constructor(config: ResolvedUNetConfig, model: tfl.LayersModel, blocks: Map<string, tfl.SymbolicTensor>) {
    this.config = config;
    this.model = model;
    this.blocks = blocks;
  }

  /**
   * Builds a U-Net from {@link UNet.toConfig}'s description: {@link createUNet} under the
   * name a config round trip reads best with. The weights are new; load them separately.
   * @param config - the U-Net's configuration.
   * @param options - see {@link CreateUNetOptions}.
   * @returns a new U-Net of that architecture.
   *
   * @example
   * ```ts
   * const twin = UNet.fromConfig(JSON.parse(JSON.stringify(unet.toConfig())));
   * ```
   */
  static fromConfig(config: UNetConfig, options?: CreateUNetOptions): UNet {
    return createUNet(config, options);
  }

  /**
   * The configuration as plain JSON-safe data, every default filled in (the keys of
   * {@link UNetConfig}; `numClasses` only for a class-conditional model).
   * @returns what {@link createUNet} and {@link UNet.fromConfig} take.
   */
  toConfig(): UNetConfig {
    const { numClasses, ...rest } = this.config;
    const copy = JSON.parse(JSON.stringify(rest)) as UNetConfig;
    return numClasses === null ? copy : { ...copy, numClasses };
  }

  /**
   * ε_θ(x_t, t) (and the variance part, for learned variances).
   *
   * @param x - [B, imageSize, imageSize, inChannels] float32.
   * @param t - [B] timesteps, int32 or float32 (rescaled).
   * @param kwargs - `{ y, training }`, or the labels tensor itself.
   * @returns [B, imageSize, imageSize, outChannels].
   */
  readonly forward = (x: tf.Tensor, t: tf.Tensor1D, kwargs?: UNetKwargs | tf.Tensor1D | Record<string, unknown>): tf.Tensor4D => {
    const { y, training } = this.checkInputs('UNet.forward', x, t, kwargs);
    return tf.tidy(() => this.model.apply(this.modelInputs(x, t, y), { training }) as tf.Tensor4D);
  };

  /**
   * The output of every block, as the reference names them (`time_embed`,
   * `input_blocks.<i>`, `middle_block`, `output_blocks.<i>`) plus `output`: where a
   * mismatch with another implementation starts.
   */
  intermediates(x: tf.Tensor, t: tf.Tensor1D, kwargs?: UNetKwargs | tf.Tensor1D): Record<string, tf.Tensor> {
    const { y } = this.checkInputs('UNet.intermediates', x, t, kwargs);
    this.probe ??= tfl.model({ inputs: this.model.inputs, outputs: [...this.blocks.values(), ...this.model.outputs] });
    const names = [...this.blocks.keys(), 'output'];
    return tf.tidy(() => {
      const outputs = this.probe!.apply(this.modelInputs(x, t, y)) as tf.Tensor[];
      return Object.fromEntries(names.map((name, i) => [name, outputs[i]!]));
    });
  }

  /** Number of trainable parameters. */
  countParams(): number {
    return this.model.countParams();
  }

  /** Frees the weights. */
  dispose(): void {
    this.model.dispose();
  }

  /** The model's inputs: x, timesteps as float32 [B, 1], labels as [B, 1]. Call inside a tidy. */
  private modelInputs(x: tf.Tensor, t: tf.Tensor1D, y: tf.Tensor1D | undefined): tf.Tensor[] {
    const tColumn = tf.reshape(t.dtype === 'float32' ? t : tf.cast(t, 'float32'), [-1, 1]);
    return y ? [x, tColumn, tf.reshape(y, [-1, 1])] : [x, tColumn];
  }

  private checkInputs(
    fn: string,
    x: tf.Tensor,
    t: tf.Tensor1D,
    kwargs: UNetKwargs | tf.Tensor1D | Record<string, unknown> | undefined,
  ): { y: tf.Tensor1D | undefined; training: boolean } {
    const c = this.config;
    checkTensor(fn, 'x', x, { minRank: 4 });
    const expected = [x.shape[0]!, c.imageSize, c.imageSize, c.inChannels];
    if (!tf.util.arraysEqual(x.shape, expected)) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'x', `must have shape [B,${c.imageSize},${c.imageSize},${c.inChannels}], got ${shapeString(x.shape)}`);
    }
    checkTensor(fn, 't', t, { dtype: null });
    if (t.rank !== 1 || t.shape[0] !== x.shape[0] || (t.dtype !== 'int32' && t.dtype !== 'float32')) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 't', `must be an int32 or float32 Tensor1D of length ${x.shape[0]}, got ${t.dtype} ${shapeString(t.shape)}`);
    }
    const args = kwargs instanceof tf.Tensor ? { y: kwargs } : ((kwargs ?? {}) as UNetKwargs);
    const y = args.y;
    if (c.numClasses === null && y !== undefined) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'y', 'was given but the model is unconditional (config.numClasses is not set)');
    }
    if (c.numClasses !== null) {
      if (y === undefined) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'y', `is required: the model is class-conditional over ${c.numClasses} classes`);
      }
      checkTensor(fn, 'y', y, { dtype: 'int32' });
      if (y.rank !== 1 || y.shape[0] !== x.shape[0]) {
        throw new DifflibError('SHAPE_MISMATCH', fn, 'y', `must hold one label per batch element (${x.shape[0]}), got shape ${shapeString(y.shape)}`);
      }
    }
    if (args.training !== undefined && typeof args.training !== 'boolean') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'training', `must be a boolean, got ${describeValue(args.training)}`);
    }
    return { y, training: args.training ?? false };
  }
}

/** Options of {@link createUNet} beyond the network's configuration. */
export interface CreateUNetOptions {
  /**
   * Call {@link registerWasmTrainingKernels} (default `true`). It changes the kernels of
   * the `'wasm'` backend for the whole app, not just this U-Net: it adds the gradient
   * kernels tfjs-backend-wasm lacks (conv2d's filter gradient among them, without which
   * the U-Net cannot train on wasm) and replaces wasm's `BatchMatMul` and
   * `Conv2DBackpropInput` with faster equivalents (results equal to float32 rounding).
   * Other backends are untouched. `false` changes no kernel; training on wasm then
   * refuses with a DifflibError that names `registerWasmTrainingKernels()` until you
   * call it yourself. {@link unregisterWasmTrainingKernels} undoes the registration.
   */
  registerWasmKernels?: boolean;
}

/**
 * Builds the U-Net of improved-diffusion / guided-diffusion ("ADM", Dhariwal &
 * Nichol 2021) on tfjs-layers. A bad configuration fails here, with a DifflibError.
 *
 * Side effect, on by default: registers difflib's kernels for the wasm backend
 * ({@link registerWasmTrainingKernels}: the gradient kernels it lacks, and faster
 * `BatchMatMul` / `Conv2DBackpropInput`), app-wide, so the model trains on every
 * backend. Opt out with `{ registerWasmKernels: false }`. Also registers the custom
 * layers with `tf.serialization` ({@link registerUNetLayers}), so a saved
 * `unet.model` loads back ({@link loadUNetModel}).
 *
 * @param config - the camelCase kwargs of `UNetModel`; see {@link UNetConfig}.
 * @param options - see {@link CreateUNetOptions}.
 * @returns a {@link UNet}; its `forward` is a diffusion model function.
 *
 * @example
 * ```ts
 * const unet = createUNet({ imageSize: 32, inChannels: 3, modelChannels: 64, outChannels: 6,
 *   numResBlocks: 2, attentionResolutions: [2], channelMult: [1, 2, 2], numHeads: 4, learnSigma: true });
 * const { loss } = diffusion.trainingLosses(unet.forward, x0, t);
 * // Leave tfjs' wasm kernels exactly as they are:
 * const plain = createUNet(unet.config, { registerWasmKernels: false });
 * ```
 */
export function createUNet(config: UNetConfig, options: CreateUNetOptions = {}): UNet {
  const fn = 'createUNet';
  if (typeof options !== 'object' || options === null) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an object { registerWasmKernels? }, got ${describeValue(options)}`);
  }
  const { registerWasmKernels = true } = options;
  if (typeof registerWasmKernels !== 'boolean') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.registerWasmKernels', `must be a boolean, got ${describeValue(registerWasmKernels)}`);
  }
  const resolved = resolveUNetConfig(config);
  if (registerWasmKernels) registerWasmTrainingKernels();
  registerUNetLayers();
  const graph = buildUNetGraph(resolved);
  const model = tfl.model({ inputs: graph.inputs, outputs: graph.output, name: 'unet' });
  return new UNet(resolved, model, graph.blocks);
}
