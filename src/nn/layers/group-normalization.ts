import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { groupNorm } from '../group-norm';

/** Configuration of {@link GroupNormalization}. */
export interface GroupNormalizationArgs {
  /** Number of channel groups G; the channel count must be divisible by it. Default 32. */
  groups?: number;
  /** ε added to the variance. Default 1e-5, PyTorch's. */
  epsilon?: number;
  /** Layer name (difflib uses the PyTorch module path). */
  name?: string;
}

/**
 * Group normalisation (Wu & He 2018) over channels-last input [B, H, W, C]: the C
 * channels are split into G groups and each (example, group) is normalised over
 * its H·W·C/G values, then scaled and shifted per channel:
 *
 *   y = (x − μ_{b,g}) / √(σ²_{b,g} + ε) · γ_c + β_c
 *
 * with the biased variance, as `torch.nn.GroupNorm`. ADM's `normalization(ch)` is
 * this with G = 32. Output has the input's shape; weights γ (`gamma`, ones) and β
 * (`beta`, zeros), each [C].
 *
 * @example
 * ```ts
 * const norm = new GroupNormalization({ groups: 32, name: 'out.0' });
 * const y = norm.apply(tf.randomNormal([2, 16, 16, 64])) as tf.Tensor4D; // [2, 16, 16, 64]
 * ```
 */
export class GroupNormalization extends tfl.layers.Layer {
  /** @internal */
  static readonly className = 'DifflibGroupNormalization';
  /** G, the number of channel groups. */
  readonly groups: number;
  /** ε added to the variance. */
  readonly epsilon: number;
  private gamma!: tfl.LayerVariable;
  private beta!: tfl.LayerVariable;

  constructor(args: GroupNormalizationArgs = {}) {
    super(args);
    this.groups = args.groups ?? 32;
    this.epsilon = args.epsilon ?? 1e-5;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = inputShape as tfl.Shape;
    const channels = shape[shape.length - 1]!;
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return groupNorm(x, this.gamma.read(), this.beta.read(), this.groups, this.epsilon);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon };
  }
}
