import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** How the 3C channels of a qkv projection are laid out. */
export type QkvOrder = 'legacy' | 'new';

/** Configuration of {@link QKVAttention}. */
export interface QKVAttentionArgs {
  /** Number of heads h; C must be divisible by it. */
  numHeads: number;
  /**
   * `legacy` (improved-diffusion, guided-diffusion's default): channels are
   * [head, (q|k|v), ch]; `new` (`use_new_attention_order`): [(q|k|v), head, ch].
   */
  order: QkvOrder;
  /** Layer name. */
  name?: string;
}

/**
 * Multi-head self-attention over the H·W positions of a qkv feature map, weightless
 * (ADM's `QKVAttention` / `QKVAttentionLegacy`): input [B, H, W, 3C], output
 * [B, H, W, C] with, per head and c = C/h channels,
 *
 *   Attention(q, k, v) = softmax((q/c^¼)(k/c^¼)ᵀ) v.
 *
 * Uses only ops with gradients on every backend (reshape, transpose, split, batched
 * matMul with equal batch shapes, softmax).
 *
 * @example
 * ```ts
 * const attention = new QKVAttention({ numHeads: 4, order: 'legacy' });
 * const qkv = tf.randomNormal([2, 8, 8, 3 * 128]); // the qkv projection's output, [B, H, W, 3C]
 * const out = attention.apply(qkv) as tf.Tensor4D;  // [2, 8, 8, 128]: 4 heads of c = 32
 * ```
 */
export class QKVAttention extends tfl.layers.Layer {
  /** @internal */
  static readonly className = 'DifflibQKVAttention';
  /** Number of heads. */
  readonly numHeads: number;
  /** Channel layout of the qkv input. */
  readonly order: QkvOrder;

  constructor(args: QKVAttentionArgs) {
    super(args);
    this.numHeads = args.numHeads;
    this.order = args.order;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = inputShape as tfl.Shape;
    return [...s.slice(0, -1), s[s.length - 1]! / 3];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const qkv = Array.isArray(inputs) ? inputs[0]! : inputs;
      const [b, height, width, threeC] = qkv.shape as [number, number, number, number];
      const heads = this.numHeads;
      const ch = threeC / 3 / heads;
      const length = height * width;
      // Bring the qkv channel groups to the front with one rank-4 transpose (rank-5
      // transposes and inner-axis splits are very slow on wasm); the batch of the
      // attention matMuls is then ordered (head, example), undone at the end.
      const groups = tf.transpose(tf.reshape(qkv, [b, length, 3 * heads, ch]), [2, 0, 1, 3]); // [3H, B, T, ch]
      const [q, k, v] = (
        this.order === 'legacy'
          ? tf.split(tf.reshape(groups, [heads, 3, b * length * ch]), 3, 1) // channels [head, (q|k|v), ch]
          : tf.split(tf.reshape(groups, [3, heads * b * length * ch]), 3, 0) // channels [(q|k|v), head, ch]
      ).map((part) => tf.reshape(part, [heads * b, length, ch])) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      // Scaling q and k by c^(-1/4) each, rather than the product by c^(-1/2), as ADM
      // does: it keeps float16 in range there and gives the same rounding here.
      const scale = 1 / Math.sqrt(Math.sqrt(ch));
      const weight = tf.softmax(tf.matMul(tf.mul(q, scale), tf.mul(k, scale), false, true));
      const attended = tf.reshape(tf.matMul(weight, v), [heads, b, length, ch]);
      return tf.reshape(tf.transpose(attended, [1, 2, 0, 3]), [b, height, width, heads * ch]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numHeads: this.numHeads, order: this.order };
  }
}
