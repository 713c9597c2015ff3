/**
 * Area (box) resampling of a square single-channel image, as OpenCV's INTER_AREA and
 * PIL's BOX filter do it: output pixel (i, j) is the mean of the input over the square
 * [i·s, (i+1)·s) × [j·s, (j+1)·s), s = inSize / outSize, each input pixel weighted by
 * the area it shares with that square. The filter is separable, out = W·in·Wᵀ with
 * W [outSize, inSize] the 1-D overlap weights; every input pixel's weights sum to
 * (outSize / inSize)², so the image's mean is preserved exactly.
 *
 * @param input - inSize² values, row-major.
 * @returns outSize² values, row-major, float64.
 * @internal
 */
export function areaResize(input: ArrayLike<number>, inSize: number, outSize: number): Float64Array {
  const w = overlapWeights(inSize, outSize);
  const rows = new Float64Array(outSize * inSize); // W·in: resampled along y
  for (let i = 0; i < outSize; i++) {
    for (let k = 0; k < inSize; k++) {
      const wik = w[i * inSize + k]!;
      if (wik === 0) continue;
      for (let x = 0; x < inSize; x++) rows[i * inSize + x]! += wik * input[k * inSize + x]!;
    }
  }
  const out = new Float64Array(outSize * outSize); // (W·in)·Wᵀ: then along x
  for (let i = 0; i < outSize; i++) {
    for (let j = 0; j < outSize; j++) {
      let sum = 0;
      for (let x = 0; x < inSize; x++) sum += rows[i * inSize + x]! * w[j * inSize + x]!;
      out[i * outSize + j] = sum;
    }
  }
  return out;
}

/** W[i, k] = |[k, k+1) ∩ [i·s, (i+1)·s)| / s, [outSize, inSize] row-major. */
function overlapWeights(inSize: number, outSize: number): Float64Array {
  const s = inSize / outSize;
  const w = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const lo = i * s;
    const hi = (i + 1) * s;
    for (let k = Math.floor(lo); k < Math.min(Math.ceil(hi), inSize); k++) {
      w[i * inSize + k] = (Math.min(hi, k + 1) - Math.max(lo, k)) / s;
    }
  }
  return w;
}
