import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

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
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const [b, ...rest] = x.shape;
      const channels = rest[rest.length - 1]!;
      const spatial = rest.slice(0, -1).reduce((p, s) => p * s, 1);
      const grouped = tf.reshape(x, [b!, spatial, this.groups, channels / this.groups]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normalized = tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.epsilon)));
      return tf.add(tf.mul(tf.reshape(normalized, x.shape), this.gamma.read()), this.beta.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(GroupNormalization);
