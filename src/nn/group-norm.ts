import * as tf from '@tensorflow/tfjs-core';
import { groupNormKernelsAvailable } from '../backends/wasm-gemm/group-norm-kernels';
import { DifflibError, describeValue } from '../errors';
import { checkTensor, shapeString } from '../validate';
import { fusedGroupNorm } from './group-norm-fused';

const FN = 'groupNorm';

/** What may follow the normalisation in {@link groupNorm}, in the same pass. */
export interface GroupNormOptions {
  /**
   * ADM's scale-shift conditioning (`use_scale_shift_norm`): emb [B, 2C] = [s | t], and the
   * normalised value becomes a·(1 + s) + t, broadcast over the middle dimensions.
   */
  scaleShift?: tf.Tensor;
  /** `'silu'`: y = u·sigmoid(u) of that value (ADM's `normalization` → `SiLU`). Default `'linear'`. */
  activation?: 'linear' | 'silu';
}

/**
 * Group normalisation (Wu & He 2018) of channels-last x [B, …, C] with per-channel
 * affine γ, β [C]: the C channels are split into G groups and each (example, group) is
 * normalised over its R·C/G values (R = the product of the middle dimensions):
 *
 *   a = (x − μ_{b,g}) / √(σ²_{b,g} + ε) · γ_c + β_c,
 *
 * with the biased (two-pass) variance, as `torch.nn.GroupNorm`; then optionally ADM's
 * scale-shift u = a·(1 + s_{b,c}) + t_{b,c} and SiLU y = u·sigmoid(u). Returns y with x's shape.
 *
 * On wasm with difflib's kernels (`registerWasmTrainingKernels`, which `createUNet`
 * calls) the whole chain and its gradient are one fused kernel each way
 * (native/wasm-kernels/group_norm.c: three passes over x forward, two backward, split
 * over the batch between threads). Elsewhere it is composed of tfjs ops, with its own
 * gradient for the normalisation:
 * - the means over R are average pools (see `meanOverRows`), so nothing is
 *   transposed (a `tf.moments` over axes [1, 3] of [B, R, G, C/G] transposes x twice,
 *   and the wasm backend's reductions and broadcasts over inner axes are slow);
 * - the backward pass is the closed form, with x̂ = (x − μ)/σ and n = R·C/G,
 *
 *     ∂β_c = Σ_{b,r} dy,   ∂γ_c = Σ_{b,r} dy·x̂,
 *     ∂x = (γ·dy − mean_g(γ·dy) − x̂ · mean_g(γ·dy·x̂)) / σ,
 *
 *   whose group means come from the per-channel means of dy and dy·(x − μ): five
 *   element-wise passes over x instead of autodiff's ~15.
 *
 * @param x - [B, …, C], rank ≥ 2, float32.
 * @param gamma - γ [C].
 * @param beta - β [C].
 * @param groups - G, which must divide C.
 * @param epsilon - ε added to the variance (PyTorch's default 1e-5).
 * @param options - scale-shift conditioning and SiLU to apply after it ({@link GroupNormOptions}).
 * @throws DifflibError when x, γ, β or the scale-shift is not a float32 tensor, x has rank
 *   < 2, G does not divide C, γ or β is not [C], the scale-shift is not [B, 2C], the
 *   activation is unknown, or ε is not a finite number ≥ 0.
 *
 * @example
 * ```ts
 * const x = tf.randomNormal<tf.Rank.R4>([2, 16, 16, 64]);
 * const y = groupNorm(x, tf.ones([64]), tf.zeros([64]), 32); // [2, 16, 16, 64]
 * // A ResBlock's out_layers with use_scale_shift_norm: norm, a·(1 + s) + t, SiLU.
 * const emb = tf.randomNormal<tf.Rank.R2>([2, 128]); // [B, 2C]: s, then t
 * const h = groupNorm(x, tf.ones([64]), tf.zeros([64]), 32, 1e-5, { scaleShift: emb, activation: 'silu' });
 * ```
 */
export function groupNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, groups: number, epsilon = 1e-5, options: GroupNormOptions = {}): T {
  checkTensor(FN, 'x', x, { minRank: 2 });
  checkTensor(FN, 'gamma', gamma);
  checkTensor(FN, 'beta', beta);
  const channels = x.shape[x.rank - 1]!;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new DifflibError('INVALID_ARGUMENT', FN, 'groups', `must be a positive integer dividing the ${channels} channels, got ${describeValue(groups)}`);
  }
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== channels) {
      throw new DifflibError('SHAPE_MISMATCH', FN, name, `must be [${channels}] (x's channels), got shape ${shapeString(t.shape)}`);
    }
  }
  if (typeof epsilon !== 'number' || !(epsilon >= 0) || !Number.isFinite(epsilon)) {
    throw new DifflibError('INVALID_ARGUMENT', FN, 'epsilon', `must be a finite number ≥ 0, got ${describeValue(epsilon)}`);
  }
  const { scaleShift, activation } = checkOptions(options, x.shape[0]!, channels);
  if (groupNormKernelsAvailable()) return fusedGroupNorm(x, gamma, beta, scaleShift, { groups, epsilon, silu: activation === 'silu' });
  return tf.tidy(() => {
    let y: tf.Tensor = normalize(x, gamma, beta, groups, epsilon);
    if (scaleShift !== undefined) {
      const [s, t] = tf.split(tf.reshape(scaleShift, [x.shape[0]!, ...x.shape.slice(1, -1).map(() => 1), 2 * channels]), 2, -1) as [tf.Tensor, tf.Tensor];
      y = tf.add(tf.mul(y, tf.add(s, 1)), t);
    }
    return (activation === 'silu' ? tf.mul(y, tf.sigmoid(y)) : y) as T;
  });
}

function checkOptions(options: unknown, batch: number, channels: number): { scaleShift?: tf.Tensor; activation: 'linear' | 'silu' } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new DifflibError('INVALID_ARGUMENT', FN, 'options', `must be an object { scaleShift?, activation? }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'scaleShift' && key !== 'activation') {
      throw new DifflibError('UNKNOWN_OPTION', FN, `options.${key}`, 'is not an option (expected: scaleShift, activation)');
    }
  }
  const { scaleShift, activation = 'linear' } = options as GroupNormOptions;
  if (activation !== 'linear' && activation !== 'silu') {
    throw new DifflibError('UNKNOWN_OPTION', FN, 'options.activation', `must be 'linear' or 'silu', got ${describeValue(activation)}`);
  }
  if (scaleShift !== undefined) {
    checkTensor(FN, 'options.scaleShift', scaleShift);
    if (scaleShift.rank !== 2 || scaleShift.shape[0] !== batch || scaleShift.shape[1] !== 2 * channels) {
      throw new DifflibError('SHAPE_MISMATCH', FN, 'options.scaleShift', `must be [${batch}, ${2 * channels}] ([B, 2C]: scale, then shift), got shape ${shapeString(scaleShift.shape)}`);
    }
  }
  return { scaleShift, activation };
}

/** The normalisation alone, composed of tfjs ops, with its closed-form gradient (see {@link groupNorm}). */
function normalize<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, groups: number, epsilon: number): T {
  const channels = x.shape[x.rank - 1]!;
  const [batch] = x.shape as number[];
  const rows = x.size / (batch! * channels);
  const perGroup = channels / groups;

  /** mean_r m[b, r, c]: m [B, R, C] → [B, 1, C]. */
  const channelMeans = (m: tf.Tensor): tf.Tensor3D => meanOverRows(m, batch!, rows, channels);
  /**
   * Per-channel means over R [B, 1, C] → their group's mean, repeated per channel [B, 1, C]
   * (by a broadcast multiply: the cpu backend's Tile reads its input back).
   */
  const groupMeans = (means: tf.Tensor): tf.Tensor => {
    const byGroup = tf.mean(tf.reshape(means, [batch!, groups, perGroup]), 2, true); // [B, G, 1]
    return tf.reshape(tf.mul(byGroup, tf.ones([1, 1, perGroup])), [batch!, 1, channels]);
  };

  // customGrad passes the inputs, then the save function, as one variadic list.
  const normalizeOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, gammaIn, betaIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const x3 = tf.reshape(xIn, [batch!, rows, channels]);
    const centered = tf.sub(x3, groupMeans(channelMeans(x3))); // x − μ, [B, R, C]
    const invStd = tf.rsqrt(tf.add(groupMeans(channelMeans(tf.square(centered))), epsilon)); // 1/σ, [B, 1, C]
    save([centered, invStd, gammaIn]);
    const value = tf.reshape(tf.add(tf.mul(centered, tf.mul(invStd, gammaIn)), betaIn), xIn.shape);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [d, s, g] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor1D];
      const dy3 = tf.reshape(dy, d.shape);
      const dyMeans = channelMeans(dy3); // mean_r dy, [B, 1, C]
      const dyXHatMeans = tf.mul(channelMeans(tf.mul(dy3, d)), s); // mean_r dy·x̂
      const dBeta = tf.reshape(tf.mul(tf.sum(dyMeans, 0), rows), [channels]);
      const dGamma = tf.reshape(tf.mul(tf.sum(dyXHatMeans, 0), rows), [channels]);
      const meanGdy = groupMeans(tf.mul(dyMeans, g)); // mean_g(γ·dy)
      const meanGdyXHat = groupMeans(tf.mul(dyXHatMeans, g)); // mean_g(γ·dy·x̂)
      // ∂x = dy·(γ/σ) − d·(mean_g(γ·dy·x̂)/σ²) − mean_g(γ·dy)/σ
      const dx = tf.sub(
        tf.sub(tf.mul(dy3, tf.mul(g, s)), tf.mul(d, tf.mul(meanGdyXHat, tf.square(s)))),
        tf.mul(meanGdy, s),
      );
      return [tf.reshape(dx, dy.shape), dGamma, dBeta];
    };
    return { value, gradFunc };
  });
  return normalizeOp(x, gamma, beta) as T;
}

/**
 * mean_r m[b, r, c]: m [B, R, C] → [B, 1, C], as one average pool of m viewed as
 * [B, R, 1, C] with an [R, 1] window. Pooling reads m once in place on every backend
 * (wasm: XNNPACK's average pooling, 0.5 ms on [8, 1024, 64]), where a sum over axis 1
 * transposes m first (7 ms) and a GEMM with ones rows packs m as its weights (2.4 ms).
 */
function meanOverRows(m: tf.Tensor, batch: number, rows: number, channels: number): tf.Tensor3D {
  const image = tf.reshape(m, [batch, rows, 1, channels]) as tf.Tensor4D;
  return tf.reshape(tf.avgPool(image, [rows, 1], [rows, 1], 'valid'), [batch, 1, channels]);
}
