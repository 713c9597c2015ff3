// One file for the three conv GEMMs because they share the packing, the register tile and
// the blocking constants, whose tuning only makes sense together; hence its length.
/**
 * Conv2D and its two gradients as cache-blocked "indirect" GEMMs in plain JavaScript,
 * for the tfjs cpu backend (see cpu-training-kernels.ts). NHWC activations, HWIO
 * filters, dilation 1; float32 in, float64 accumulation, float32 out.
 *
 * All three are one product  out[row, col] += Σ_s Σ_k A[ind[row, s] + k] · B_s[k, col]:
 *
 * - forward   y[p, o]  = Σ_taps Σ_c  x̃[pixel under tap, c] · W[tap, c, o]
 *   (rows = output pixels, s = filter tap, k = input channel, col = output channel);
 * - dx        dx[q, c] = Σ_taps Σ_o  dỹ[dy pixel over q through tap, o] · W[tap, c, o]
 *   (rows = input pixels grouped by stride phase, so that each group runs only the taps
 *   that reach it: 9/4 instead of 9 taps per pixel for a 3x3 filter at stride 2);
 * - dW        dW[(tap, c), o] = Σ_p x̃[pixel under tap, c] · dy[p, o]
 *   (rows = (tap, c), k = output pixel, from a packed, transposed chunk of pixels).
 *
 * x̃ / dỹ are the input with one zero row appended: out-of-image taps point at it (the
 * indirection buffer of XNNPACK's convolutions), so there is no im2col and no branch in
 * the inner loop. B is packed into panels of 4 contiguous columns, so the inner loop
 * reads A (contiguous channels) and B (contiguous panel) sequentially and keeps a
 * 3 rows × 4 columns tile of accumulators in registers: 7 loads per 12 multiply-adds,
 * against 2 loads and a store per multiply-add in tfjs-backend-cpu's loops (and its
 * Conv2DBackpropFilter's per-element TensorBuffer.get, ~0.005 GFLOP/s).
 * @internal
 */

/** Rows per micro-tile (pixels) and columns per panel (channels). */
const MR = 3;
const NR = 4;
/** Rows per cache block: their A rows stay in L1 while every B panel passes by. */
const ROW_BLOCK = 48;
/** Output pixels per chunk of the filter gradient (its packed A and B fit L2). */
const PIXEL_CHUNK = 128;

/**
 * out[o_r + j] += Σ_s Σ_{k<len} a[ind[i_r + s] + k] · b[bp + tapB[s] + 4k + j] for the
 * three rows r and the 4 columns j. No branch past the loops: padding rows and columns
 * land in padding of `out` (see {@link Padded}), since a branch first taken after V8
 * optimised this function (a narrower last panel, say) made it bail out on every call.
 */
function tile3x4(
  a: Float32Array,
  ind: Int32Array,
  i0: number,
  i1: number,
  i2: number,
  nTaps: number,
  tapB: Int32Array,
  b: Float32Array,
  bp: number,
  len: number,
  out: Float64Array,
  o0: number,
  o1: number,
  o2: number,
): void {
  let c00 = 0;
  let c01 = 0;
  let c02 = 0;
  let c03 = 0;
  let c10 = 0;
  let c11 = 0;
  let c12 = 0;
  let c13 = 0;
  let c20 = 0;
  let c21 = 0;
  let c22 = 0;
  let c23 = 0;
  for (let s = 0; s < nTaps; s++) {
    const r0 = ind[i0 + s]!;
    const r1 = ind[i1 + s]!;
    const r2 = ind[i2 + s]!;
    let q = (bp + tapB[s]!) | 0;
    for (let k = 0; k < len; k++) {
      const a0 = a[(r0 + k) | 0]!;
      const a1 = a[(r1 + k) | 0]!;
      const a2 = a[(r2 + k) | 0]!;
      let w = b[q]!;
      c00 += a0 * w;
      c10 += a1 * w;
      c20 += a2 * w;
      w = b[(q + 1) | 0]!;
      c01 += a0 * w;
      c11 += a1 * w;
      c21 += a2 * w;
      w = b[(q + 2) | 0]!;
      c02 += a0 * w;
      c12 += a1 * w;
      c22 += a2 * w;
      w = b[(q + 3) | 0]!;
      c03 += a0 * w;
      c13 += a1 * w;
      c23 += a2 * w;
      q = (q + 4) | 0;
    }
  }
  out[o0] = out[o0]! + c00;
  out[o0 + 1] = out[o0 + 1]! + c01;
  out[o0 + 2] = out[o0 + 2]! + c02;
  out[o0 + 3] = out[o0 + 3]! + c03;
  out[o1] = out[o1]! + c10;
  out[o1 + 1] = out[o1 + 1]! + c11;
  out[o1 + 2] = out[o1 + 2]! + c12;
  out[o1 + 3] = out[o1 + 3]! + c13;
  out[o2] = out[o2]! + c20;
  out[o2 + 1] = out[o2 + 1]! + c21;
  out[o2 + 2] = out[o2 + 2]! + c22;
  out[o2 + 3] = out[o2 + 3]! + c23;
}

/**
 * A [rows, cols] result in float64, rows `stride` = cols rounded up to 4 apart, plus one
 * sink row at the end that padding rows of the last micro-tile write to.
 */
export interface Padded {
  values: Float64Array;
  rows: number;
  cols: number;
  stride: number;
}

function padded(rows: number, cols: number): Padded {
  const stride = roundUp(cols, NR);
  return { values: new Float64Array((rows + 1) * stride), rows, cols, stride };
}

/** Row offsets r·stride of `count` rows, padded to a multiple of 3 with the sink row. */
function rowOffsets(out: Padded, count: number): Int32Array {
  const offsets = new Int32Array(roundUp(count, MR)).fill(out.rows * out.stride);
  for (let r = 0; r < count; r++) offsets[r] = r * out.stride;
  return offsets;
}

/** The [rows, cols] float32 values of a padded result (rounded once, from float64). */
export function unpad(out: Padded): Float32Array {
  const { values, rows, cols, stride } = out;
  if (cols === stride) return new Float32Array(values.subarray(0, rows * cols));
  const result = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) result.set(values.subarray(r * stride, r * stride + cols), r * cols);
  return result;
}

/**
 * The product above over `nRows` rows (a multiple of 3; row r's taps are
 * ind[r·nTaps …], its output offset rowOut[r]) and all columns of `out`, B packed as
 * ⌈cols/4⌉ panels of `panelStride` floats. Blocked: ROW_BLOCK rows at a time meet
 * every panel.
 */
function indirectGemm(
  a: Float32Array,
  ind: Int32Array,
  rowOut: Int32Array,
  nRows: number,
  nTaps: number,
  tapB: Int32Array,
  b: Float32Array,
  panelStride: number,
  len: number,
  out: Padded,
): void {
  const panels = out.stride / NR;
  const values = out.values;
  for (let r0 = 0; r0 < nRows; r0 += ROW_BLOCK) {
    const r1 = Math.min(nRows, r0 + ROW_BLOCK);
    for (let jb = 0; jb < panels; jb++) {
      const col = jb * NR;
      const bp = jb * panelStride;
      for (let r = r0; r < r1; r += MR) {
        tile3x4(
          a,
          ind,
          r * nTaps,
          (r + 1) * nTaps,
          (r + 2) * nTaps,
          nTaps,
          tapB,
          b,
          bp,
          len,
          values,
          rowOut[r]! + col,
          rowOut[r + 1]! + col,
          rowOut[r + 2]! + col,
        );
      }
    }
  }
}

/**
 * ⌈n / m⌉ in integer arithmetic: V8 speculates a division's result is an int32 while it
 * has only seen exact ones, and bails out of optimised code ("lost precision") the
 * first time it is not (a layer with 1 channel after layers with 32, say).
 */
const ceilDiv = (n: number, m: number) => ((n - (n % m)) / m + (n % m === 0 ? 0 : 1)) | 0;
const roundUp = (n: number, m: number) => ceilDiv(n, m) * m;

/** `values` with `extra` zeros appended (the zero row the indirection points at). */
function withZeroRow(values: Float32Array, extra: number): Float32Array {
  const out = new Float32Array(values.length + extra);
  out.set(values);
  return out;
}

/** Geometry of a dilation-1 NHWC conv, as tfjs's computeConv2DInfo gives it. */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/**
 * ind[p·T + t]: the offset in x̃ of the input pixel under tap t = a·kw + b of output
 * pixel p, or of the zero row (N·H·W·C) where the tap falls in the padding.
 */
function forwardIndirection(g: ConvGeometry, rows: number): Int32Array {
  const { batch, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = g;
  const taps = filterHeight * filterWidth;
  const zero = batch * inHeight * inWidth * inChannels;
  const ind = new Int32Array(rows * taps).fill(zero);
  let k = 0;
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < outHeight; i++) {
      const top = i * g.strideHeight - g.padTop;
      for (let j = 0; j < outWidth; j++) {
        const left = j * g.strideWidth - g.padLeft;
        for (let a = 0; a < filterHeight; a++) {
          const ih = top + a;
          const inRow = ih >= 0 && ih < inHeight;
          for (let b = 0; b < filterWidth; b++, k++) {
            const iw = left + b;
            if (inRow && iw >= 0 && iw < inWidth) ind[k] = ((n * inHeight + ih) * inWidth + iw) * inChannels;
          }
        }
      }
    }
  }
  return ind;
}

/**
 * Packs the [rows, cols] row-major matrix at src[offset …] into panels of 4 columns,
 * dst[(c >> 2)·rows·4 + r·4 + (c & 3)] (B of the product; columns past `cols` keep
 * what dst held: they only reach padding columns of the result).
 *
 * Every loop of the convolutions lives in a small function of its own like this one:
 * V8 then optimises each as a whole, where a loop inside a longer function gets
 * on-stack-replaced code that bailed out on every later call at the first statement
 * past the loop it had not yet run.
 */
function packPanels(src: Float32Array, offset: number, rows: number, cols: number, dst: Float32Array): void {
  const panelStride = rows * NR;
  for (let r = 0; r < rows; r++) {
    const s = offset + r * cols;
    const d = r * NR;
    for (let c = 0; c < cols; c++) dst[(c >> 2) * panelStride + d + (c & 3)] = src[s + c]!;
  }
}

/** The B of the input gradient: panel cb holds W[tap, 4cb … 4cb+3, o] as rows (tap, o). */
function packTransposedPanels(w: Float32Array, taps: number, C: number, O: number, dst: Float32Array): void {
  const panelStride = taps * O * NR;
  for (let t = 0; t < taps; t++) {
    for (let c = 0; c < C; c++) {
      const src = (t * C + c) * O;
      const d = (c >> 2) * panelStride + t * O * NR + (c & 3);
      for (let o = 0; o < O; o++) dst[d + o * NR] = w[src + o]!;
    }
  }
}

/**
 * The forward conv y [N·outH·outW, O] (padded float64) of x [N, H, W, C] and
 * w [kh, kw, C, O].
 */
export function conv2dForward(x: Float32Array, w: Float32Array, g: ConvGeometry): Padded {
  const { inChannels: C, outChannels: O, filterHeight, filterWidth } = g;
  const taps = filterHeight * filterWidth;
  const rows = g.batch * g.outHeight * g.outWidth;
  const paddedRows = roundUp(rows, MR);
  const K = taps * C;
  // B: W as [K = (tap, c), O] in panels of 4 output channels.
  const panelStride = K * NR;
  const b = new Float32Array(ceilDiv(O, NR) * panelStride);
  packPanels(w, 0, K, O, b);
  const tapB = multiples(taps, C * NR);
  const ind = new Int32Array(paddedRows * taps).fill(x.length);
  ind.set(forwardIndirection(g, rows));
  const out = padded(rows, O);
  indirectGemm(withZeroRow(x, C), ind, rowOffsets(out, rows), paddedRows, taps, tapB, b, panelStride, C, out);
  return out;
}

/** [0, step, 2·step, …] (n entries). */
function multiples(n: number, step: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i * step;
  return out;
}

/**
 * The input gradient dx [N·H·W, C] (padded float64) of a conv with filter w [kh, kw, C, O]
 * from dy [N, outH, outW, O].
 *
 * With u = i + padTop, dy row m reaches dx row i through filter row a = u − m·sh, so
 * only the taps a ≡ u (mod sh) do: the rows are grouped by (u mod sh, v mod sw) and each
 * group runs its own taps.
 */
export function conv2dBackpropInput(dy: Float32Array, w: Float32Array, g: ConvGeometry): Padded {
  const { inChannels: C, outChannels: O, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = g;
  const taps = kh * kw;
  const panelStride = taps * O * NR;
  const b = new Float32Array(ceilDiv(C, NR) * panelStride);
  packTransposedPanels(w, taps, C, O, b);
  const a = withZeroRow(dy, O);
  const out = padded(g.batch * g.inHeight * g.inWidth, C);
  for (let ph = 0; ph < sh; ph++) {
    for (let pw = 0; pw < sw; pw++) {
      const group = phaseGroup(g, ph, pw, dy.length, out);
      if (group === null) continue;
      indirectGemm(a, group.ind, group.rowOut, group.rowOut.length, group.tapB.length, group.tapB, b, panelStride, O, out);
    }
  }
  return out;
}

/**
 * The rows of dx in stride phase (ph, pw) — (i + padTop) mod sh = ph, likewise for
 * columns — with the taps that reach them (B offsets `tapB`), each row's dỹ offsets
 * under those taps (`ind`, `zero` where the dy pixel is off the image) and its output
 * offset (`rowOut`, padded to a multiple of 3 with the sink row). Null where no pixel
 * or no tap is in the phase (such pixels get no gradient: 0).
 */
function phaseGroup(
  g: ConvGeometry,
  ph: number,
  pw: number,
  zero: number,
  out: Padded,
): { ind: Int32Array; rowOut: Int32Array; tapB: Int32Array } | null {
  const { batch, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop, padLeft } = g;
  const tapRows = kh > ph ? ceilDiv(kh - ph, sh) : 0; // filter rows ph, ph + sh, …
  const tapCols = kw > pw ? ceilDiv(kw - pw, sw) : 0;
  const iStart = (((ph - padTop) % sh) + sh) % sh;
  const jStart = (((pw - padLeft) % sw) + sw) % sw;
  const iCount = iStart < H ? ceilDiv(H - iStart, sh) : 0;
  const jCount = jStart < W ? ceilDiv(W - jStart, sw) : 0;
  const count = batch * iCount * jCount;
  const nTaps = tapRows * tapCols;
  if (nTaps === 0 || count === 0) return null;
  const tapB = new Int32Array(nTaps);
  for (let x = 0; x < tapRows; x++) {
    for (let y = 0; y < tapCols; y++) tapB[x * tapCols + y] = ((ph + x * sh) * kw + pw + y * sw) * O * NR;
  }
  const nRows = roundUp(count, MR);
  const ind = new Int32Array(nRows * nTaps).fill(zero);
  const rowOut = new Int32Array(nRows).fill(out.rows * out.stride);
  let r = 0;
  let k = 0;
  for (let n = 0; n < batch; n++) {
    for (let i = iStart; i < H; i += sh) {
      // Filter row ph + x·sh meets dy row m = (i + padTop − ph)/sh − x (exact).
      const m0 = ((i + padTop - ph) / sh) | 0;
      for (let j = jStart; j < W; j += sw, r++) {
        const mm0 = ((j + padLeft - pw) / sw) | 0;
        rowOut[r] = ((n * H + i) * W + j) * out.stride;
        for (let x = 0; x < tapRows; x++) {
          const m = m0 - x;
          const inRow = m >= 0 && m < OH;
          for (let y = 0; y < tapCols; y++, k++) {
            const mm = mm0 - y;
            if (inRow && mm >= 0 && mm < OW) ind[k] = ((n * OH + m) * OW + mm) * O;
          }
        }
      }
    }
  }
  return { ind, rowOut, tapB };
}

/**
 * The filter gradient dW [kh·kw·C, O] (padded float64) of a conv of x [N, H, W, C] from
 * dy [N, outH, outW, O]: over chunks of PIXEL_CHUNK output pixels, A = the chunk's
 * im2col transposed ([(tap, c), pixel], rows contiguous in pixels) and B = the chunk of
 * dy in panels of 4 channels.
 */
export function conv2dBackpropFilter(x: Float32Array, dy: Float32Array, g: ConvGeometry): Padded {
  const { inChannels: C, outChannels: O, filterHeight, filterWidth } = g;
  const taps = filterHeight * filterWidth;
  const K = taps * C;
  const kRows = roundUp(K, MR);
  const pixels = g.batch * g.outHeight * g.outWidth;
  const chunk = Math.min(PIXEL_CHUNK, pixels);
  const src = forwardIndirection(g, pixels);
  const xz = withZeroRow(x, C);
  const out = padded(K, O);
  // A: row k at k·chunk (rows past K stay zero); one tap per row, at B offset 0.
  const a = new Float32Array(kRows * chunk);
  const ind = multiples(kRows, chunk);
  const rowOut = rowOffsets(out, K);
  const tapB = new Int32Array(1);
  const b = new Float32Array(ceilDiv(O, NR) * chunk * NR);
  for (let p0 = 0; p0 < pixels; p0 += chunk) {
    const len = Math.min(chunk, pixels - p0);
    packTransposedIm2col(xz, src, p0, len, taps, C, chunk, a);
    packPanels(dy, p0 * O, len, O, b);
    indirectGemm(a, ind, rowOut, kRows, 1, tapB, b, len * NR, len, out);
  }
  return out;
}

/** a[(t·C + c)·chunk + p] = x̃[src[(p0 + p)·T + t] + c] for the chunk's `len` pixels. */
function packTransposedIm2col(
  xz: Float32Array,
  src: Int32Array,
  p0: number,
  len: number,
  taps: number,
  C: number,
  chunk: number,
  a: Float32Array,
): void {
  for (let p = 0; p < len; p++) {
    const base = (p0 + p) * taps;
    for (let t = 0; t < taps; t++) {
      const s = src[base + t]!; // the zero row where the tap is in the padding
      let d = t * C * chunk + p;
      for (let c = 0; c < C; c++, d += chunk) a[d] = xz[s + c]!;
    }
  }
}
