import * as tf from '@tensorflow/tfjs-core';
import { isPositive } from '../select';

/** π/2 split so that k·HALF_PI_HI is exact in float32 for |k| < 2^16 (Cody & Waite). */
const HALF_PI_HI = 1.5703125;
const HALF_PI_LO = Math.PI / 2 - HALF_PI_HI;

/**
 * sin x and cos x accurate to float32 rounding on every backend. WebGL's built-in
 * sin/cos (SwiftShader's, and many GPUs') are off by up to ~2e-4 even for |x| < 1;
 * here x is reduced to r = x − kπ/2, |r| ≤ π/4, and both come from Taylor polynomials
 * (truncation below 2e-9 there), then rotated into the quadrant k mod 4.
 *
 * @param x - any shape, float32; |x| up to ~1e5.
 * @returns [sin x, cos x], each x's shape.
 * @internal
 */
export function sinCos(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const k = tf.round(tf.mul(x, 2 / Math.PI));
    const r = tf.sub(tf.sub(x, tf.mul(k, HALF_PI_HI)), tf.mul(k, HALF_PI_LO));
    const r2 = tf.square(r);
    const horner = (coefs: number[]) => coefs.reduceRight<tf.Tensor>((acc, c) => tf.add(tf.mul(acc, r2), c), tf.zerosLike(r2));
    // sin r = r(1 − r²/3! + r⁴/5! − …), cos r = 1 − r²/2! + r⁴/4! − …
    const sinR = tf.mul(r, horner([1, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880]));
    const cosR = horner([1, -1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800]);
    const quadrant = tf.sub(k, tf.mul(4, tf.floor(tf.div(k, 4))));
    const pick = (q0: tf.Tensor, q1: tf.Tensor, q2: tf.Tensor, q3: tf.Tensor) =>
      tf.where(
        isPositive(tf.sub(0.5, quadrant)),
        q0,
        tf.where(isPositive(tf.sub(1.5, quadrant)), q1, tf.where(isPositive(tf.sub(2.5, quadrant)), q2, q3)),
      );
    const negSin = tf.neg(sinR);
    const negCos = tf.neg(cosR);
    return [pick(sinR, cosR, negSin, negCos), pick(cosR, negSin, negCos, sinR)];
  });
}
