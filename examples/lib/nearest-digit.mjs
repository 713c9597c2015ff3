// A crude sample-quality number for image models too small for FID, used by examples/digits.mjs
// and examples/scheduler-comparison.mjs.

/**
 * The mean over samples of the RMS pixel distance (images in [−1, 1]) to the nearest of the
 * reference images. Noise, grey backgrounds and broken strokes raise it; a digit that looks
 * like a real one keeps it low.
 *
 * @param {ArrayLike<number>} samples - n images, flat [n·d].
 * @param {ArrayLike<number>} reference - m images, flat [m·d].
 * @param {number} d - pixels per image (size·size·channels).
 * @returns {number}
 */
export function nearestDigitDistance(samples, reference, d) {
  const [n, m] = [samples.length / d, reference.length / d];
  let total = 0;
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    for (let j = 0; j < m && best > 0; j++) {
      let s = 0;
      for (let k = 0; k < d && s < best; k++) {
        const diff = samples[i * d + k] - reference[j * d + k];
        s += diff * diff;
      }
      best = Math.min(best, s);
    }
    total += Math.sqrt(best / d);
  }
  return total / n;
}
