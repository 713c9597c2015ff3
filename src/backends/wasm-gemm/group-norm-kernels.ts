import * as tf from '@tensorflow/tfjs-core';
import { fill, kernelsFor, type BoundKernels, type WasmBackendLike } from './module';

/**
 * difflib's fused GroupNorm kernel (native/wasm-kernels/group_norm.c): inputs
 * `{ x [B, …, C], gamma [C], beta [C], emb? [B, 2C] }`, attrs {@link GroupNormKernelAttrs};
 * outputs `[y (x's shape), stats [B, G, 2] (μ, 1/σ of every image and group)]`.
 * @internal
 */
export const GROUP_NORM_KERNEL = 'DifflibGroupNorm';
/**
 * Its gradient: inputs `{ x, dy, gamma, beta, emb?, stats }`, the same attrs; outputs
 * `[dx (x's shape), sums [B, 2C] (Σ_rows du, then Σ_rows du·x̂)]`.
 * @internal
 */
export const GROUP_NORM_GRAD_KERNEL = 'DifflibGroupNormGrad';

/** @internal */
export interface GroupNormKernelAttrs {
  /** G, dividing C. */
  groups: number;
  /** ε added to the variance. */
  epsilon: number;
  /** Whether SiLU follows the (scale-shifted) normalisation. */
  silu: boolean;
}

/**
 * What one value counts as, in FLOPs of the thread split's threshold (a worker takes a
 * share only when it has MIN_FLOPS_PER_SHARE, 3e7): with 240, tensors of ≥ 250k values
 * ([8, 16, 16, 128] and up) split over 2 threads. Measured on 2 cores, relaxed SIMD:
 * the SiLU forward on [8, 32, 32, 64] 1.15 ms on 1 thread, 0.61 ms on 2.
 */
const WORK_PER_VALUE = 240;

/**
 * Whether the fused GroupNorm kernels run on the current backend: wasm, with
 * {@link GROUP_NORM_KERNEL} registered and difflib's kernels on and bound to its heap.
 * @internal
 */
export function groupNormKernelsAvailable(): boolean {
  return tf.getKernel(GROUP_NORM_KERNEL, tf.getBackend()) !== undefined && kernelsFor(tf.backend()) !== null;
}

/** Writes group_norm.c's NormGeometry at the start of every scratch block. */
function writeGeometry(kernels: BoundKernels, work: number[], rows: number, channels: number, attrs: GroupNormKernelAttrs): void {
  for (const block of work) {
    new Int32Array(kernels.memory.buffer, block, 4).set([rows, channels, attrs.groups, attrs.silu ? 1 : 0]);
    new Float32Array(kernels.memory.buffer, block + 16, 1)[0] = attrs.epsilon;
  }
}

/** The bound kernels, scratch blocks (geometry written) and sizes of one call. */
function prepare(args: Parameters<tf.KernelFunc>[0]) {
  const x = args.inputs.x!;
  const attrs = args.attrs as unknown as GroupNormKernelAttrs;
  const kernels = kernelsFor(args.backend as tf.KernelBackend);
  if (kernels === null) throw new Error(`${GROUP_NORM_KERNEL}: difflib's wasm kernels are off or cannot bind to this backend`);
  const batch = x.shape[0]!;
  const channels = x.shape[x.shape.length - 1]!;
  const rows = tf.util.sizeFromShape(x.shape) / (batch * channels);
  const work = kernels.work(kernels.exports.group_norm_work_bytes(channels));
  writeGeometry(kernels, work, rows, channels, attrs);
  return { kernels, work, batch, channels, attrs, size: batch * rows * channels, backend: args.backend as WasmBackendLike };
}

const offset = (backend: WasmBackendLike, t: tf.TensorInfo | undefined): number => (t === undefined ? 0 : backend.getMemoryOffset(t.dataId));

/** {@link GROUP_NORM_KERNEL} on wasm. @internal */
export const groupNormKernel: tf.KernelFunc = (args) => {
  const { x, gamma, beta, emb } = args.inputs;
  const { kernels, work, batch, attrs, size, backend } = prepare(args);
  const outs = [backend.makeOutput(x!.shape, 'float32'), backend.makeOutput([batch, attrs.groups, 2], 'float32')];
  const [y, stats] = outs.map((t) => offset(backend, t));
  const [xp, gp, bp, ep] = [x, gamma, beta, emb].map((t) => offset(backend, t));
  return fill(backend, outs, () =>
    kernels.run('group_norm', (i, begin, end) => [xp!, gp!, bp!, ep!, y!, stats!, work[i]!, begin, end], batch, 1, size * WORK_PER_VALUE),
  );
};

/** {@link GROUP_NORM_GRAD_KERNEL} on wasm. @internal */
export const groupNormGradKernel: tf.KernelFunc = (args) => {
  const { x, dy, gamma, beta, emb, stats } = args.inputs;
  const { kernels, work, batch, channels, size, backend } = prepare(args);
  const outs = [backend.makeOutput(x!.shape, 'float32'), backend.makeOutput([batch, 2 * channels], 'float32')];
  const [dx, sums] = outs.map((t) => offset(backend, t));
  const [xp, dyp, gp, bp, ep, sp] = [x, dy, gamma, beta, emb, stats].map((t) => offset(backend, t));
  return fill(backend, outs, () =>
    kernels.run(
      'group_norm_backward',
      (i, begin, end) => [xp!, dyp!, gp!, bp!, ep!, sp!, dx!, sums!, work[i]!, begin, end],
      batch,
      1,
      size * WORK_PER_VALUE,
    ),
  );
};
