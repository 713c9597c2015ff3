import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DifflibError } from '../../errors';
import { groupNorm } from '../group-norm';

/** Configuration of {@link GroupNormalization}. */
export interface GroupNormalizationArgs {
  /** Number of channel groups G; the channel count must be divisible by it. Default 32. */
  groups?: number;
  /** ε added to the variance. Default 1e-5, PyTorch's. */
  epsilon?: number;
  /**
   * Take inputs `[x, emb]`, emb [B, 2C] = [s | t], and apply ADM's scale-shift
   * a·(1 + s) + t after the normalisation (`use_scale_shift_norm`). Default false.
   */
  scaleShift?: boolean;
  /** `'silu'`: SiLU after the normalisation (and scale-shift). Default `'linear'`. */
  activation?: 'linear' | 'silu';
  /** Layer name (difflib uses the PyTorch module path). */
  name?: string;
}

/**
 * Group normalisation (Wu & He 2018) over channels-last input [B, H, W, C]: the C
 * channels are split into G groups and each (example, group) is normalised over
 * its H·W·C/G values, then scaled and shifted per channel:
 *
 *   a = (x − μ_{b,g}) / √(σ²_{b,g} + ε) · γ_c + β_c
 *
 * with the biased variance, as `torch.nn.GroupNorm`. ADM's `normalization(ch)` is
 * this with G = 32. Optionally followed, in the same {@link groupNorm} call (one fused
 * kernel on wasm), by ADM's scale-shift a·(1 + s) + t with emb = [s | t] [B, 2C] as a
 * second input, and by SiLU: what a ResBlock's `in_layers[:2]` and `out_layers[:2]` do.
 * Output has the input's shape; weights γ (`gamma`, ones) and β (`beta`, zeros), each [C].
 *
 * @example
 * ```ts
 * const norm = new GroupNormalization({ groups: 32, name: 'out.0' });
 * const y = norm.apply(tf.randomNormal([2, 16, 16, 64])) as tf.Tensor4D; // [2, 16, 16, 64]
 * // A ResBlock's out_layers.0 with use_scale_shift_norm, and the SiLU after it:
 * const out = new GroupNormalization({ scaleShift: true, activation: 'silu' });
 * const h = out.apply([tf.randomNormal([2, 16, 16, 64]), tf.randomNormal([2, 128])]) as tf.Tensor4D;
 * ```
 */
export class GroupNormalization extends tfl.layers.Layer {
  /** @internal */
  static readonly className = 'DifflibGroupNormalization';
  /** G, the number of channel groups. */
  readonly groups: number;
  /** ε added to the variance. */
  readonly epsilon: number;
  /** Whether the layer takes `[x, emb]` and applies the scale-shift. */
  readonly scaleShift: boolean;
  /** What follows the normalisation. */
  readonly activation: 'linear' | 'silu';
  private gamma!: tfl.LayerVariable;
  private beta!: tfl.LayerVariable;

  constructor(args: GroupNormalizationArgs = {}) {
    super(args);
    this.groups = args.groups ?? 32;
    this.epsilon = args.epsilon ?? 1e-5;
    this.scaleShift = args.scaleShift ?? false;
    this.activation = args.activation ?? 'linear';
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = this.xShape(inputShape);
    const channels = shape[shape.length - 1]!;
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return this.xShape(inputShape);
  }

  /** x's shape: the first of `[x, emb]`'s with a scale-shift, else the only one. */
  private xShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    if (!this.scaleShift) return inputShape as tfl.Shape;
    if (!Array.isArray(inputShape[0])) {
      throw new DifflibError('INVALID_ARGUMENT', 'GroupNormalization', 'inputs', 'must be [x, emb] when scaleShift is true, got one tensor');
    }
    return inputShape[0] as tfl.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [x, emb] = Array.isArray(inputs) ? inputs : [inputs];
    if (this.scaleShift && emb === undefined) {
      throw new DifflibError('INVALID_ARGUMENT', 'GroupNormalization', 'inputs', 'must be [x, emb] when scaleShift is true, got one tensor');
    }
    return groupNorm(x!, this.gamma.read(), this.beta.read(), this.groups, this.epsilon, {
      activation: this.activation,
      ...(this.scaleShift ? { scaleShift: emb } : {}),
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon, scaleShift: this.scaleShift, activation: this.activation };
  }
}
