import * as tf from '@tensorflow/tfjs-core';
import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, type GroupNormKernelAttrs } from '../backends/wasm-gemm/group-norm-kernels';

/**
 * `groupNorm` on difflib's fused wasm kernels: y = act((x̂·γ + β)·(1 + s) + t), the
 * scale-shift emb = [s | t] [B, 2C] optional, in one kernel; its gradient in another,
 * which returns ∂x and the per-channel sums S1 = Σ_r du, S2 = Σ_r du·x̂ [B, C] of
 * du = ∂L/∂u, from which
 *
 *   ∂β = Σ_b (1+s)·S1,   ∂γ = Σ_b (1+s)·S2,   ∂s = γ·S2 + β·S1,   ∂t = S1.
 *
 * The forward kernel's statistics (μ, 1/σ per image and group) are saved for the
 * gradient, with x, γ, β and emb: the backward kernel recomputes u from them, so nothing
 * of x's size is kept but x itself. The caller has checked the arguments.
 * @internal
 */
export function fusedGroupNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, emb: tf.Tensor | undefined, attrs: GroupNormKernelAttrs): T {
  const channels = x.shape[x.rank - 1]!;
  const kernelAttrs = attrs as unknown as tf.NamedAttrMap;
  // customGrad passes the inputs, then the save function, as one variadic list.
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xIn, gammaIn, betaIn, embIn] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const inputs: tf.NamedTensorMap = { x: xIn, gamma: gammaIn, beta: betaIn, ...(embIn === undefined ? {} : { emb: embIn }) };
    const [value, stats] = tf.engine().runKernel(GROUP_NORM_KERNEL, inputs, kernelAttrs) as tf.Tensor[];
    save([xIn, gammaIn, betaIn, stats!, ...(embIn === undefined ? [] : [embIn])]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xS, gammaS, betaS, statsS, embS] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const gradInputs: tf.NamedTensorMap = { x: xS, dy, gamma: gammaS, beta: betaS, stats: statsS, ...(embS === undefined ? {} : { emb: embS }) };
      const [dx, sums] = tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, gradInputs, kernelAttrs) as tf.Tensor[];
      const [s1, s2] = tf.split(sums!, 2, 1) as [tf.Tensor2D, tf.Tensor2D]; // [B, C] each
      if (embS === undefined) return [dx!, tf.sum(s2, 0), tf.sum(s1, 0)];
      const onePlusS = tf.add(tf.slice(embS, [0, 0], [-1, channels]), 1);
      const dGamma = tf.sum(tf.mul(onePlusS, s2), 0);
      const dBeta = tf.sum(tf.mul(onePlusS, s1), 0);
      const dEmb = tf.concat([tf.add(tf.mul(gammaS, s2), tf.mul(betaS, s1)), s1], 1);
      return [dx!, dGamma, dBeta, dEmb];
    };
    return { value: value!, gradFunc };
  });
  return (emb === undefined ? op(x, gamma, beta) : op(x, gamma, beta, emb)) as T;
}
