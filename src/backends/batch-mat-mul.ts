import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './kernel-tensors';

/**
 * Below this many multiply-adds the rearrangements cost more than wasm's direct loop
 * saves (measured: 4×32×32×32 = 131k is a tie, 64×16×16×16 = 262k already 1.4x faster).
 */
const MIN_MULTIPLY_ADDS = 1 << 18;

function volume(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A `BatchMatMul` for the wasm backend that keeps every product on XNNPACK.
 *
 * wasm's own kernel sends only an untransposed product with batch 1 to XNNPACK's
 * GEMM (~15-20 GFLOP/s); a transposed operand or a batch > 1 runs a direct loop at
 * ~1.2 GFLOP/s. That loop is what training hits: the gradients of `a·b` are
 * `dy·bᵀ` and `aᵀ·dy`, and attention multiplies [batch·heads, T, d] batches. So:
 *
 * - batch 1 on both sides, with transposes: transpose the operands (or compute
 *   (op(b)ᵀ·op(a)ᵀ)ᵀ, whichever moves fewer elements), then one untransposed GEMM;
 * - `b` shared by every batch (batch 1): one [batch·M, K]·[K, N] GEMM;
 * - `a` shared: one [M, K]·[K, batch·N] GEMM;
 * - both batched: the product as a depthwise conv, which XNNPACK runs as a grouped
 *   GEMM: a laid out as a [1, M, K, batch] image, b as a [1, K, batch, N] filter
 *   (channel multiplier N), 'valid', so out[0, m, 0, i·N + n] = Σ_k a[i, m, k]·b[i, k, n].
 *
 * Everything else (non-float32, small products, untransposed batch-1 products that
 * already take XNNPACK, batch shapes that broadcast other than through a batch of 1)
 * goes to wasm's own kernel, `original`, unchanged.
 *
 * Inputs: `a` [...batch, M, K] (or [...batch, K, M] with `transposeA`) and `b`
 * [...batch, K, N] (or [...batch, N, K] with `transposeB`).
 * Output: [...batch, M, N], float32; equal to wasm's kernel to float32 rounding (the
 * sums are accumulated in a different order).
 *
 * @param original - wasm's own BatchMatMul kernelFunc.
 * @returns the kernelFunc to register in its place.
 * @internal
 */
export function batchMatMulOnGemm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const aInfo = inputs.a!;
    const bInfo = inputs.b!;
    if (aInfo.dtype !== 'float32' || bInfo.dtype !== 'float32' || aInfo.shape.length < 2 || bInfo.shape.length < 2) {
      return original(args);
    }
    const rankA = aInfo.shape.length;
    const rankB = bInfo.shape.length;
    const batchA = volume(aInfo.shape.slice(0, -2));
    const batchB = volume(bInfo.shape.slice(0, -2));
    const [m, k] = transposeA
      ? [aInfo.shape[rankA - 1]!, aInfo.shape[rankA - 2]!]
      : [aInfo.shape[rankA - 2]!, aInfo.shape[rankA - 1]!];
    const [kB, n] = transposeB
      ? [bInfo.shape[rankB - 1]!, bInfo.shape[rankB - 2]!]
      : [bInfo.shape[rankB - 2]!, bInfo.shape[rankB - 1]!];
    const batch = Math.max(batchA, batchB);
    const alreadyFast = !transposeA && !transposeB && batch === 1;
    const broadcastable = batchA === batchB || batchA === 1 || batchB === 1;
    if (alreadyFast || !broadcastable || k !== kB || batch * m * k * n < MIN_MULTIPLY_ADDS) {
      return original(args); // including its error for mismatched inner dimensions
    }
    const outShape = [
      ...tf.broadcast_util.assertAndGetBroadcastShape(aInfo.shape.slice(0, -2), bInfo.shape.slice(0, -2)),
      m,
      n,
    ];
    return tf.tidy(() => {
      const kernelBackend = backend as tf.KernelBackend;
      // [batch, rows, cols] views as stored, i.e. before any transpose.
      const a = tf.reshape(asTensor(aInfo, kernelBackend), [batchA, transposeA ? k : m, transposeA ? m : k]);
      const b = tf.reshape(asTensor(bInfo, kernelBackend), [batchB, transposeB ? n : k, transposeB ? k : n]);
      let out: tf.Tensor;
      if (batchA > 1 && batchB > 1) {
        const image = tf.reshape(tf.transpose(a, transposeA ? [2, 1, 0] : [1, 2, 0]), [1, m, k, batch]);
        const filter = tf.reshape(tf.transpose(b, transposeB ? [2, 0, 1] : [1, 0, 2]), [1, k, batch, n]);
        const product = tf.depthwiseConv2d(image as tf.Tensor4D, filter as tf.Tensor4D, 1, 'valid'); // [1, m, 1, batch·n]
        out = tf.transpose(tf.reshape(product, [m, batch, n]), [1, 0, 2]);
      } else if (batchA > 1) {
        // b is shared: stack a's batches as rows of one GEMM.
        const rows = tf.reshape(transposeA ? tf.transpose(a, [0, 2, 1]) : a, [batch * m, k]);
        out = tf.matMul(rows, untransposed2d(b, transposeB));
      } else if (batchB > 1) {
        // a is shared: lay b's batches side by side as columns of one GEMM.
        const columns = tf.reshape(tf.transpose(b, transposeB ? [2, 0, 1] : [1, 0, 2]), [k, batch * n]);
        out = tf.transpose(tf.reshape(tf.matMul(untransposed2d(a, transposeA), columns), [m, batch, n]), [1, 0, 2]);
      } else {
        // Both batch 1: transpose the flagged operands, or the others and the result
        // ((op(b)ᵀ·op(a)ᵀ)ᵀ), whichever moves fewer elements.
        const direct = (transposeA ? m * k : 0) + (transposeB ? k * n : 0);
        const swapped = (transposeA ? 0 : m * k) + (transposeB ? 0 : k * n) + m * n;
        const a2 = dropBatch(a);
        const b2 = dropBatch(b);
        out =
          direct <= swapped
            ? tf.matMul(untransposed2d(a2, transposeA), untransposed2d(b2, transposeB))
            : tf.transpose(tf.matMul(untransposed2d(b2, !transposeB), untransposed2d(a2, !transposeA)));
      }
      return tf.reshape(out, outShape);
    });
  };
}

/** The matrix itself, transposed if `transposed` says it is stored transposed (batch-1 3D or 2D). */
function untransposed2d(x: tf.Tensor, transposed: boolean): tf.Tensor2D {
  const matrix = x.rank === 3 ? dropBatch(x) : (x as tf.Tensor2D);
  return transposed ? tf.transpose(matrix) : matrix;
}

/** A [1, rows, cols] tensor as the [rows, cols] matrix. */
function dropBatch(x: tf.Tensor): tf.Tensor2D {
  return tf.reshape(x, [x.shape[1]!, x.shape[2]!]);
}
