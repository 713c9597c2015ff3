/**
 * Host arithmetic that reproduces, to the bit, the float32 torch and numpy operations
 * diffusers' schedulers use to build their tables (see the schedulers' SCHEMA.md in the
 * test fixtures, "Precision"). Plain numbers in, plain numbers out; no tensors.
 * @internal
 */

/** Round to the nearest float32 (ties to even): torch's float32 storage. */
export const f32 = Math.fround;

/**
 * The float32 rounding of the exact value `s + e`, where `s` is a double and `e` the
 * rounding error of the double operation that produced `s` (|e| ≤ ulp(s)/2). Rounding
 * `s` alone to float32 can round twice the wrong way when `s` lies exactly halfway
 * between two float32 values; `e` then says which way the exact value lies.
 */
function f32OfExact(s: number, e: number): number {
  const r = f32(s);
  if (e === 0 || r === s) return r;
  const other = r < s ? nextF32Up(r) : nextF32Down(r);
  if (Math.abs(other - s) !== Math.abs(r - s)) return r; // s is not a tie: r is right
  // A tie in s: the exact value lies on e's side of it.
  return (e > 0) === other > r ? other : r;
}

const F32_VIEW = new Float32Array(1);
const U32_VIEW = new Uint32Array(F32_VIEW.buffer);

function nextF32Up(x: number): number {
  F32_VIEW[0] = x;
  if (x === 0) return 2 ** -149;
  U32_VIEW[0] = x > 0 ? U32_VIEW[0]! + 1 : U32_VIEW[0]! - 1;
  return F32_VIEW[0]!;
}

function nextF32Down(x: number): number {
  return -nextF32Up(-x);
}

/** Error-free sum: `a + b = s + e` exactly (Knuth's TwoSum). */
function twoSum(a: number, b: number): [number, number] {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}

/**
 * `fma(a, b, c)` rounded once to float32, for float32 `a`, `c` and an integer `b` below
 * 2^24: the product is exact in a double, so only the sum needs care.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const [s, e] = twoSum(a * b, c);
  return f32OfExact(s, e);
}

/**
 * `torch.linspace(start, end, n, dtype=torch.float32)` of torch 1.13 on the CPU, to the
 * bit. It is not `start + i·step`: step = f32((f32(end) − f32(start))/(n − 1)); the
 * first n − n mod 16 elements come in blocks of 8 whose base is one fma from the nearer
 * end (`fma(step, j, start)` for j < n/2, else `fma(−step, n−1−j, end)`), each element
 * j + m of a block being f32(base + f32(m·step)); the last n mod 16 use the fma each.
 */
export function torchLinspaceF32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32((e - s) / (n - 1));
  const halfway = Math.floor(n / 2);
  const direct = (i: number) => (i < halfway ? fmaF32(step, i, s) : fmaF32(-step, n - 1 - i, e));
  const vectorised = n - (n % 16);
  for (let j = 0; j < vectorised; j += 8) {
    const base = direct(j);
    for (let m = 0; m < 8; m++) out[j + m] = m === 0 ? base : f32(base + f32(m * step));
  }
  for (let i = vectorised; i < n; i++) out[i] = direct(i);
  return out;
}

/**
 * `torch.cumprod` of a float32 vector: products accumulated in float64, each stored
 * rounded to float32 (ᾱ_i = f32(∏_{j≤i} α_j)).
 */
export function cumprodF32(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  let product = 1;
  for (let i = 0; i < values.length; i++) {
    product *= values[i]!;
    out[i] = product;
  }
  return out;
}

/** numpy's `round` (and `np.round`): to the nearest integer, halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `np.arange(start, stop, step)` in float64: ceil((stop − start)/step) values
 * start + i·δ, where numpy's δ is (start + step) − start, not step itself.
 */
export function numpyArange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Float64Array.from({ length: n }, (_, i) => (i === 0 ? start : start + i * delta));
}

/**
 * `np.interp(x, xp, fp)` for increasing `xp`: piecewise-linear interpolation in float64,
 * clamped to the end values, with numpy's formula `slope·(x − xp[j]) + fp[j]`.
 */
export function numpyInterp(x: ArrayLike<number>, xp: ArrayLike<number>, fp: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  const last = xp.length - 1;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (Number.isNaN(v)) out[i] = v;
    else if (v <= xp[0]!) out[i] = fp[0]!;
    else if (v >= xp[last]!) out[i] = fp[last]!;
    else {
      let j = 0;
      let hi = last;
      while (hi - j > 1) {
        const mid = (j + hi) >> 1;
        if (xp[mid]! <= v) j = mid;
        else hi = mid;
      }
      if (v === xp[j]) out[i] = fp[j]!;
      else {
        const slope = (fp[j + 1]! - fp[j]!) / (xp[j + 1]! - xp[j]!);
        out[i] = slope * (v - xp[j]!) + fp[j]!;
      }
    }
  }
  return out;
}
