import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Configuration of {@link TimeConditioning}. */
export interface TimeConditioningArgs {
  /** `true`: h·(1 + scale) + shift (ADM's scale-shift norm); `false`: h + e. */
  scaleShift: boolean;
  /** Layer name. */
  name?: string;
}

/**
 * Injects a ResBlock's projected time embedding e [B, C] (or [B, 2C]) into its
 * feature map h [B, H, W, C], broadcasting over H and W:
 *
 *   additive:     h + e
 *   scale-shift:  h · (1 + e_scale) + e_shift,  [e_scale, e_shift] = split(e, 2)
 *
 * Inputs `[h, e]`; weightless (the projection is a Dense layer before it). Output
 * [B, H, W, C], h's shape.
 *
 * @example
 * ```ts
 * const h = tf.randomNormal([2, 16, 16, 64]);
 * const e = tf.randomNormal([2, 128]); // [B, 2C]: scale, then shift
 * const out = new TimeConditioning({ scaleShift: true }).apply([h, e]) as tf.Tensor4D; // [2, 16, 16, 64]
 * ```
 */
export class TimeConditioning extends tfl.layers.Layer {
  /** @internal */
  static readonly className = 'DifflibTimeConditioning';
  /** Scale-and-shift (true) or additive (false) conditioning. */
  readonly scaleShift: boolean;

  constructor(args: TimeConditioningArgs) {
    super(args);
    this.scaleShift = args.scaleShift;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return (inputShape as tfl.Shape[])[0]!;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [h, e] = inputs as [tf.Tensor, tf.Tensor];
      const broadcastable = tf.reshape(e, [e.shape[0]!, 1, 1, e.shape[1]!]);
      if (!this.scaleShift) return tf.add(h, broadcastable);
      const [scale, shift] = tf.split(broadcastable, 2, -1) as [tf.Tensor, tf.Tensor];
      return tf.add(tf.mul(h, tf.add(scale, 1)), shift);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scaleShift: this.scaleShift };
  }
}
