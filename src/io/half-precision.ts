/**
 * IEEE binary16 (`F16`) and bfloat16 (`BF16`) conversions for the safetensors reader and
 * writer. Both work on bit patterns (a `Uint32Array` view of the float32 side) so that
 * every half value, NaN payloads included, survives half → float32 → half unchanged.
 * @internal
 */

/** binary16 bits → float32 bits; exact (every half is a float32). @internal */
export function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal half, mantissa·2^-24: normalise so the leading one becomes float32's implicit bit.
  let biased = 113;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    biased--;
  }
  return (sign | (biased << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

/**
 * float32 bits → binary16 bits, rounding to nearest, ties to even (as PyTorch's
 * `.half()`): too large → ±Infinity, too small → ±0, NaN stays NaN.
 * @internal
 */
export function floatBitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exponent = (f >>> 23) & 0xff;
  const mantissa = f & 0x7fffff;
  if (exponent === 0xff) {
    // Keep the top payload bits; a payload living only in the low bits still has to stay NaN.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7c00 | (mantissa >>> 13 || 0x200);
  }
  const halfExponent = exponent - 112;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent > 0) {
    const kept = mantissa >>> 13;
    const rest = mantissa & 0x1fff;
    const roundUp = rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1);
    // A carry out of the mantissa moves into the exponent, up to Infinity: still correct.
    return (sign | (halfExponent << 10)) + kept + (roundUp ? 1 : 0);
  }
  // Subnormal half: the value in units of 2^-24 is (mantissa | implicit one) >> shift.
  const shift = 14 - halfExponent;
  if (shift > 24) return sign;
  const full = mantissa | 0x800000;
  const kept = full >>> shift;
  const rest = full - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  const roundUp = rest > half || (rest === half && (kept & 1) === 1);
  return sign | (kept + (roundUp ? 1 : 0));
}

/** bfloat16 bits → float32 bits: bfloat16 is the top half of a float32. @internal */
export function bfloat16ToFloatBits(b: number): number {
  return (b << 16) >>> 0;
}

/** float32 bits → bfloat16 bits, rounding to nearest, ties to even; NaN stays NaN. @internal */
export function floatBitsToBfloat16(f: number): number {
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) {
    const top = f >>> 16;
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  return ((f >>> 0) + 0x7fff + ((f >>> 16) & 1)) >>> 16;
}
