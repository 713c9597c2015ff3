import * as tf from '@tensorflow/tfjs-core';
import { fill, kernelsFor, type WasmBackendLike } from './module';

/**
 * `BatchMatMul` and `_FusedMatMul` (bias only, linear activation) on difflib's wasm
 * GEMM: out[i] = op(a[i]) · op(b[i]) (+ bias), with a [...batch, M, K] (or
 * [...batch, K, M] with `transposeA`), b [...batch, K, N] (or [...batch, N, K] with
 * `transposeB`), bias [N], out [...batch, M, N]. Every transpose runs on the same
 * packed GEMM (the packing reads the operand in its stored layout). A batch of 1 on
 * either side is shared by every batch of the other; other broadcasts, non-float32
 * operands, other activations, a bias that is not [N], mismatched inner dimensions (so
 * wasm's own error) and a backend the kernels cannot bind to go to `fallback`.
 * @internal
 */
export function gemmBatchMatMul(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs as unknown as tf.BatchMatMulAttrs & Partial<tf._FusedMatMulAttrs>;
    const kernels = kernelsFor(args.backend as tf.KernelBackend);
    if (kernels === null || a!.dtype !== 'float32' || b!.dtype !== 'float32' || a!.shape.length < 2 || b!.shape.length < 2) {
      return fallback(args);
    }
    const rankA = a!.shape.length;
    const rankB = b!.shape.length;
    const [m, k] = attrs.transposeA ? [a!.shape[rankA - 1]!, a!.shape[rankA - 2]!] : [a!.shape[rankA - 2]!, a!.shape[rankA - 1]!];
    const [kB, n] = attrs.transposeB ? [b!.shape[rankB - 1]!, b!.shape[rankB - 2]!] : [b!.shape[rankB - 2]!, b!.shape[rankB - 1]!];
    const batchA = tf.util.sizeFromShape(a!.shape.slice(0, -2));
    const batchB = tf.util.sizeFromShape(b!.shape.slice(0, -2));
    const batch = Math.max(batchA, batchB);
    const linear = attrs.activation === undefined || attrs.activation === 'linear';
    const biasOk = bias === undefined || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === n);
    const broadcastOk = (batchA === batch || batchA === 1) && (batchB === batch || batchB === 1);
    if (k !== kB || !linear || preluActivationWeights !== undefined || !biasOk || !broadcastOk || batch * m * n === 0) {
      return fallback(args);
    }
    const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    if (tf.util.sizeFromShape(batchShape) !== batch) return fallback(args);
    const backend = args.backend as WasmBackendLike;
    const work = kernels.work(kernels.exports.gemm_work_bytes());
    const out = backend.makeOutput([...batchShape, m, n], 'float32');
    const a0 = backend.getMemoryOffset(a!.dataId);
    const b0 = backend.getMemoryOffset(b!.dataId);
    const bias0 = bias === undefined ? 0 : backend.getMemoryOffset(bias.dataId);
    const c0 = backend.getMemoryOffset(out.dataId);
    const common = [m, n, k, a0, batchA === 1 ? 0 : m * k, attrs.transposeA ? 1 : 0, b0, batchB === 1 ? 0 : k * n, attrs.transposeB ? 1 : 0, bias0, c0];
    const flops = 2 * batch * m * n * k;
    // Threads split the batch when there is one to split, else the rows of the one product.
    return fill(backend, out, () =>
      batch > 1
        ? kernels.run('batch_matmul', (i, begin, end) => [...common, work[i]!, begin, end, 0, m], batch, 1, flops)
        : kernels.run('batch_matmul', (i, begin, end) => [...common, work[i]!, 0, 1, begin, end], m, 4, flops),
    );
  };
}
