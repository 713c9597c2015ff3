import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * 2× nearest-neighbour upsampling of [B, H, W, C] → [B, 2H, 2W, C] (PyTorch's
 * `F.interpolate(x, scale_factor=2, mode="nearest")`), by duplicating rows and
 * columns with stack + reshape. tfjs' `resizeNearestNeighbor` would do, but its
 * gradient kernel on the cpu backend (4.22) offsets every batch element after the
 * first wrongly, which silently corrupts training there. Weightless:
 *
 *   y[b, i, j, c] = x[b, ⌊i/2⌋, ⌊j/2⌋, c].
 *
 * @example
 * ```ts
 * const up = new NearestUpsampling2D();
 * const y = up.apply(tf.randomNormal([2, 8, 8, 64])) as tf.Tensor4D; // [2, 16, 16, 64]
 * ```
 */
export class NearestUpsampling2D extends tfl.layers.Layer {
  /** @internal */
  static readonly className = 'DifflibNearestUpsampling2D';

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [b, h, w, c] = inputShape as tfl.Shape;
    return [b ?? null, h == null ? null : 2 * h, w == null ? null : 2 * w, c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const [b, h, w, c] = x.shape as [number, number, number, number];
      // Concat (not stack): its gradient is two slices, where stack's is an Unpack that
      // is very slow on wasm.
      const row = tf.reshape(x, [b * h, 1, w * c]);
      const rows = tf.reshape(tf.concat([row, row], 1), [b * 2 * h * w, 1, c]);
      return tf.reshape(tf.concat([rows, rows], 1), [b, 2 * h, 2 * w, c]);
    });
  }
}
