import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { isPositive } from '../select';

/** A tensor, or a plain number that broadcasts as a scalar. */
export type TensorOrNumber = tf.Tensor | number;

/**
 * KL divergence between two diagonal Gaussians, element-wise, in nats:
 *
 *   KL(N(μ₁, e^{v₁}) ‖ N(μ₂, e^{v₂})) = ½ (−1 + v₂ − v₁ + e^{v₁−v₂} + (μ₁ − μ₂)² e^{−v₂})
 *
 * Arguments broadcast against each other; plain numbers act as scalars (e.g. the
 * standard-normal prior `0, 0`), but at least one must be a tensor.
 *
 * @param mean1 - μ₁.
 * @param logvar1 - v₁ = log σ₁².
 * @param mean2 - μ₂.
 * @param logvar2 - v₂ = log σ₂².
 * @returns float32 tensor of the broadcast shape.
 *
 * @example
 * ```ts
 * const kl = normalKl(mean, logVariance, 0, 0); // against N(0, I)
 * ```
 */
export function normalKl(
  mean1: TensorOrNumber,
  logvar1: TensorOrNumber,
  mean2: TensorOrNumber,
  logvar2: TensorOrNumber,
): tf.Tensor {
  const args = { mean1, logvar1, mean2, logvar2 };
  checkOperands('normalKl', args);
  return tf.tidy(() => {
    const [m1, v1, m2, v2] = [mean1, logvar1, mean2, logvar2].map((a) => (typeof a === 'number' ? tf.scalar(a) : a)) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    // −1 − (v₁−v₂) + e^{v₁−v₂} grouped as one term: it is ≈ δ²/2 where the variances
    // agree, and summing its three parts separately would cancel in float32.
    const varianceTerm = expMinusOneMinusX(tf.sub(v1, v2));
    const meanTerm = tf.mul(tf.squaredDifference(m1, m2), tf.exp(tf.neg(v2)));
    return tf.mul(0.5, tf.add(varianceTerm, meanTerm));
  });
}

/**
 * e^δ − 1 − δ, by its Taylor series where |δ| < 0.1 (relative error < 1e-6 there)
 * and directly elsewhere. WebGL's expm1 is e^δ − 1, so it cannot be relied on here.
 */
function expMinusOneMinusX(delta: tf.Tensor): tf.Tensor {
  const series = tf.mul(
    tf.square(delta),
    tf.add(0.5, tf.mul(delta, tf.add(1 / 6, tf.mul(delta, tf.add(1 / 24, tf.div(delta, 120)))))),
  );
  const direct = tf.sub(tf.sub(tf.exp(delta), 1), delta);
  return tf.where(isPositive(tf.sub(0.1, tf.abs(delta))), series, direct);
}

function checkOperands(fn: string, args: Record<string, unknown>): void {
  let shape: number[] = [];
  let anyTensor = false;
  for (const [name, a] of Object.entries(args)) {
    if (typeof a === 'number') continue;
    if (!(a instanceof tf.Tensor) || a.isDisposed) {
      throw new DifflibError('INVALID_ARGUMENT', fn, name, `must be a tf.Tensor or a number, got ${describeValue(a)}`);
    }
    anyTensor = true;
    try {
      shape = tf.backend_util.assertAndGetBroadcastShape(shape, a.shape);
    } catch {
      throw new DifflibError('SHAPE_MISMATCH', fn, name, `has shape [${a.shape}], which does not broadcast with [${shape}]`);
    }
  }
  if (!anyTensor) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'mean1', 'at least one argument must be a tf.Tensor, got only numbers');
  }
}

