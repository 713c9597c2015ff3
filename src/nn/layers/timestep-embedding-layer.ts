import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { timestepEmbedding } from '../timestep-embedding';

/** Configuration of {@link TimestepEmbeddingLayer}. */
export interface TimestepEmbeddingLayerArgs {
  /** Embedding width. */
  dim: number;
  /** Longest period. Default 10000. */
  maxPeriod?: number;
  /** Layer name. */
  name?: string;
}

/**
 * The sinusoidal {@link timestepEmbedding} as a weightless layer: [B, 1] (or [B])
 * float32 timesteps → [B, dim], with half = ⌊dim/2⌋ and f_i = maxPeriod^(−i/half),
 *
 *   emb(t) = [cos(t·f_0), …, cos(t·f_{half−1}), sin(t·f_0), …, sin(t·f_{half−1})]
 *
 * (plus a zero column when dim is odd).
 *
 * @example
 * ```ts
 * const embed = new TimestepEmbeddingLayer({ dim: 128 });
 * const emb = embed.apply(tf.tensor2d([[0], [500]])) as tf.Tensor2D; // [2, 128]
 * ```
 */
export class TimestepEmbeddingLayer extends tfl.layers.Layer {
  /** @internal */
  static readonly className = 'DifflibTimestepEmbedding';
  /** Embedding width. */
  readonly dim: number;
  /** Longest period of the sinusoids. */
  readonly maxPeriod: number;

  constructor(args: TimestepEmbeddingLayerArgs) {
    super(args);
    this.dim = args.dim;
    this.maxPeriod = args.maxPeriod ?? 10000;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return [(inputShape as tfl.Shape)[0] ?? null, this.dim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const t = Array.isArray(inputs) ? inputs[0]! : inputs;
      return timestepEmbedding(tf.reshape(t, [-1]) as tf.Tensor1D, this.dim, this.maxPeriod);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dim: this.dim, maxPeriod: this.maxPeriod };
  }
}
