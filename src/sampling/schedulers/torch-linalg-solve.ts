import { f32 } from './float32';

/**
 * `torch.linalg.solve(A, b)` of a float32 system of order ≤ 3 on the host, to the bit, as
 * torch 1.13 runs it on the CPU with OpenBLAS's AVX2 (Haswell) kernels (LAPACK `getrf` +
 * `getrs`, i.e. `sgesv`), which made the reference cases:
 *
 * - torch factors Aᵀ when A is contiguous (its row-major storage read as column-major) and
 *   then solves the transposed system; a non-contiguous A (a slice such as
 *   `R[:-1, :-1]`) is copied and factored as it is;
 * - the factorization P·M = L·U is OpenBLAS's left-looking `getf2`: column j gets the
 *   earlier row interchanges, then each entry below row j subtracts the dot product of
 *   its row of L with the column; the pivot is the first entry of largest magnitude; the
 *   multipliers are the column times f32(1/pivot);
 * - solving with M = A (`getrs 'N'`): b permuted, L·y = b and U·x = y by column updates
 *   y_i ← y_i − l_ik·y_k, each x_k a true division by u_kk;
 * - solving with M = Aᵀ (`getrs 'T'`): Uᵀ·y = b forward and Lᵀ·z = y backward by dot
 *   products, each y_i divided by u_ii, then the interchanges undone in reverse.
 *
 * Every operation is a float32 one, none fused. Measured against torch.linalg.solve on
 * 40 000 random systems of UniPC's form (rows r^0, r^1, r^2 of r = [r_1, …, 1], r_k < 0),
 * contiguous and sliced, with `OPENBLAS_CORETYPE=Haswell`: bit-identical. (OpenBLAS's
 * AVX-512 kernels, `SkylakeX`, fuse some multiply-adds and differ in the last bit for a
 * few percent of systems.)
 *
 * @param a - A, row-major, n × n (n ≤ 3), float32 values.
 * @param b - the right-hand side, n float32 values.
 * @param contiguous - whether torch sees A as a contiguous tensor (true for a stacked
 *   matrix, false for a slice of a larger one).
 * @returns x (float32 values), or null when A is singular (a pivot is exactly 0: LAPACK's
 *   `info > 0`, where torch raises).
 * @internal
 */
export function torchLinalgSolveF32(a: readonly (readonly number[])[], b: readonly number[], contiguous: boolean): number[] | null {
  const n = b.length;
  // The matrix LAPACK factors: Aᵀ for a contiguous A.
  const m = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => f32(contiguous ? a[j]![i]! : a[i]![j]!)));
  const pivots = factor(m);
  if (pivots === null) return null;
  const x = b.map((v) => f32(v));
  return contiguous ? solveTransposed(m, pivots, x) : solveDirect(m, pivots, x);
}

/** OpenBLAS `getf2` in place: L (unit, below the diagonal) and U; the row interchanges, or null if singular. */
function factor(m: number[][]): number[] | null {
  const n = m.length;
  const pivots: number[] = [];
  for (let j = 0; j < n; j++) {
    const col = m.map((row) => row[j]!);
    for (let i = 0; i < j; i++) swap(col, i, pivots[i]!);
    for (let i = 1; i < j; i++) col[i] = f32(col[i]! - dot(m[i]!, col, i));
    for (let i = j; i < n; i++) if (j > 0) col[i] = f32(col[i]! - dot(m[i]!, col, j));
    let p = j;
    for (let i = j + 1; i < n; i++) if (Math.abs(col[i]!) > Math.abs(col[p]!)) p = i;
    if (col[p] === 0) return null;
    pivots.push(p);
    col.forEach((v, i) => (m[i]![j] = v));
    if (p !== j) for (let k = 0; k <= j; k++) [m[j]![k], m[p]![k]] = [m[p]![k]!, m[j]![k]!];
    const reciprocal = f32(1 / m[j]![j]!);
    for (let i = j + 1; i < n; i++) m[i]![j] = f32(m[i]![j]! * reciprocal);
  }
  return pivots;
}

/** Σ_{k<len} row_k·col_k in float32, in order. */
function dot(row: readonly number[], col: readonly number[], len: number): number {
  let s = f32(row[0]! * col[0]!);
  for (let k = 1; k < len; k++) s = f32(s + f32(row[k]! * col[k]!));
  return s;
}

/** getrs 'N': P·A = L·U, so A·x = b is L·U·x = P·b. */
function solveDirect(lu: number[][], pivots: number[], x: number[]): number[] {
  const n = x.length;
  for (let i = 0; i < n; i++) swap(x, i, pivots[i]!);
  for (let k = 0; k < n; k++) for (let i = k + 1; i < n; i++) x[i] = f32(x[i]! - f32(lu[i]![k]! * x[k]!));
  for (let k = n - 1; k >= 0; k--) {
    x[k] = f32(x[k]! / lu[k]![k]!);
    for (let i = 0; i < k; i++) x[i] = f32(x[i]! - f32(lu[i]![k]! * x[k]!));
  }
  return x;
}

/** getrs 'T': P·Aᵀ = L·U, so A·x = b is Uᵀ·Lᵀ·(P·x) = b. */
function solveTransposed(lu: number[][], pivots: number[], x: number[]): number[] {
  const n = x.length;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < i; k++) s = f32(s + f32(lu[k]![i]! * x[k]!));
    x[i] = f32(f32(x[i]! - s) / lu[i]![i]!);
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = 0;
    for (let k = i + 1; k < n; k++) s = f32(s + f32(lu[k]![i]! * x[k]!));
    x[i] = f32(x[i]! - s);
  }
  for (let i = n - 1; i >= 0; i--) swap(x, i, pivots[i]!);
  return x;
}

function swap(v: number[], i: number, j: number): void {
  if (i !== j) [v[i], v[j]] = [v[j]!, v[i]!];
}
