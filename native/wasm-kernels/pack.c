/* Packing GEMM operands into the micro-kernel's panel layout (see gemm.h). */
#include "gemm.h"

static inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

/*
 * Four rows r0..r3 of `len` floats (a null row reads as zeros) stored column by
 * column: out[k·stride + q] = r_q[k]. Four columns at a time as a 4×4 transpose.
 */
static inline void interleave_rows(const float *r0, const float *r1, const float *r2, const float *r3, int32_t len,
                                   float *out, int32_t stride) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  int32_t k = 0;
  for (; k + 4 <= len; k += 4) {
    const v128_t a = r0 ? wasm_v128_load(r0 + k) : zero;
    const v128_t b = r1 ? wasm_v128_load(r1 + k) : zero;
    const v128_t c = r2 ? wasm_v128_load(r2 + k) : zero;
    const v128_t d = r3 ? wasm_v128_load(r3 + k) : zero;
    const v128_t ab_lo = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);
    const v128_t ab_hi = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
    const v128_t cd_lo = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5);
    const v128_t cd_hi = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
    wasm_v128_store(out + (k + 0) * stride, wasm_i32x4_shuffle(ab_lo, cd_lo, 0, 1, 4, 5));
    wasm_v128_store(out + (k + 1) * stride, wasm_i32x4_shuffle(ab_lo, cd_lo, 2, 3, 6, 7));
    wasm_v128_store(out + (k + 2) * stride, wasm_i32x4_shuffle(ab_hi, cd_hi, 0, 1, 4, 5));
    wasm_v128_store(out + (k + 3) * stride, wasm_i32x4_shuffle(ab_hi, cd_hi, 2, 3, 6, 7));
  }
  for (; k < len; k++) {
    out[k * stride + 0] = r0 ? r0[k] : 0.0f;
    out[k * stride + 1] = r1 ? r1[k] : 0.0f;
    out[k * stride + 2] = r2 ? r2[k] : 0.0f;
    out[k * stride + 3] = r3 ? r3[k] : 0.0f;
  }
}

/* Plain A rows [i0, i0+mc), depth [p0, p0+kc): element (i, p) is p[i·ld + p], or p[p·ld + i] transposed. */
static void pack_a_plain(const Operand *a, int32_t rows, int32_t i0, int32_t mc, int32_t p0, int32_t kc, float *out) {
  for (int32_t i = 0; i < mc; i += MR, out += MR * kc) {
    const int32_t mr = min32(MR, rows - i0 - i);
    if (a->trans) {
      const float *src = a->p + p0 * a->ld + i0 + i;
      if (mr == MR) {
        for (int32_t k = 0; k < kc; k++) wasm_v128_store(out + k * MR, wasm_v128_load(src + k * a->ld));
      } else {
        for (int32_t k = 0; k < kc; k++) {
          for (int32_t q = 0; q < MR; q++) out[k * MR + q] = q < mr ? src[k * a->ld + q] : 0.0f;
        }
      }
    } else {
      const float *row = a->p + (i0 + i) * a->ld + p0;
      interleave_rows(row, mr > 1 ? row + a->ld : 0, mr > 2 ? row + 2 * a->ld : 0, mr > 3 ? row + 3 * a->ld : 0, kc, out, MR);
    }
  }
}

/* Where output pixel m's tap reads in the image, or null for a pixel past the last row or a padding tap. */
static inline const float *tap_source(const Operand *a, int32_t rows, int32_t m, int32_t tap, int32_t ch) {
  const ConvGeometry *g = a->g;
  if (m >= rows) return 0;
  const int32_t ox = m % g->ow, oy = (m / g->ow) % g->oh, img = m / (g->ow * g->oh);
  const int32_t y = oy * g->sh - g->pt + (tap / g->kw) * g->dh, x = ox * g->sw - g->pl + (tap % g->kw) * g->dw;
  if (y < 0 || y >= g->h || x < 0 || x >= g->w) return 0;
  return a->p + ((img * g->h + y) * g->w + x) * g->c + ch;
}

/*
 * X̃ rows (output pixels) [i0, i0+mc), depth (tap·c + channel) [p0, p0+kc). A panel's
 * four pixels share the depth range's split into taps: per tap, a run of contiguous
 * channels of each pixel's input (or padding zeros), interleaved four at a time.
 */
static void pack_a_im2col(const Operand *a, int32_t rows, int32_t i0, int32_t mc, int32_t p0, int32_t kc, float *out) {
  const ConvGeometry *g = a->g;
  for (int32_t i = 0; i < mc; i += MR, out += MR * kc) {
    const int32_t m = i0 + i;
    int32_t tap = p0 / g->c, ch = p0 % g->c;
    for (int32_t k = 0; k < kc;) {
      const int32_t run = min32(g->c - ch, kc - k);
      interleave_rows(tap_source(a, rows, m, tap, ch), tap_source(a, rows, m + 1, tap, ch), tap_source(a, rows, m + 2, tap, ch),
                      tap_source(a, rows, m + 3, tap, ch), run, out + k * MR, MR);
      k += run;
      ch = 0;
      tap++;
    }
  }
}

/*
 * X̃ᵀ rows (tap·c + channel) [i0, i0+mc), depth (output pixels) [p0, p0+kc). A panel's
 * MR rows are MR consecutive channels; when they share one tap (channels a multiple of
 * MR, the common case) each depth step is one 4-float load from the input pixel.
 */
static void pack_a_im2col_t(const Operand *a, int32_t rows, int32_t i0, int32_t mc, int32_t p0, int32_t kc, float *out) {
  const ConvGeometry *g = a->g;
  for (int32_t i = 0; i < mc; i += MR, out += MR * kc) {
    const int32_t r0 = i0 + i;
    const int32_t tap = r0 / g->c, ch = r0 % g->c;
    const int32_t one_tap = r0 + MR <= rows && ch + MR <= g->c;
    const int32_t dy = (tap / g->kw) * g->dh, dx = (tap % g->kw) * g->dw;
    int32_t ox = p0 % g->ow, oy = (p0 / g->ow) % g->oh, img = p0 / (g->ow * g->oh);
    for (int32_t k = 0; k < kc; k++) {
      if (one_tap) {
        const int32_t y = oy * g->sh - g->pt + dy, x = ox * g->sw - g->pl + dx;
        v128_t v = wasm_f32x4_splat(0.0f);
        if (y >= 0 && y < g->h && x >= 0 && x < g->w) {
          v = wasm_v128_load(a->p + ((img * g->h + y) * g->w + x) * g->c + ch);
        }
        wasm_v128_store(out + k * MR, v);
      } else {
        for (int32_t q = 0; q < MR; q++) {
          const int32_t r = r0 + q;
          float value = 0.0f;
          if (r < rows) {
            const int32_t t = r / g->c, c = r % g->c;
            const int32_t y = oy * g->sh - g->pt + (t / g->kw) * g->dh, x = ox * g->sw - g->pl + (t % g->kw) * g->dw;
            if (y >= 0 && y < g->h && x >= 0 && x < g->w) value = a->p[((img * g->h + y) * g->w + x) * g->c + c];
          }
          out[k * MR + q] = value;
        }
      }
      if (++ox == g->ow) {
        ox = 0;
        if (++oy == g->oh) {
          oy = 0;
          img++;
        }
      }
    }
  }
}

void pack_a(const Operand *a, int32_t rows, int32_t i0, int32_t mc, int32_t p0, int32_t kc, float *out) {
  if (a->kind == OPERAND_IM2COL) {
    pack_a_im2col(a, rows, i0, mc, p0, kc, out);
  } else if (a->kind == OPERAND_IM2COL_T) {
    pack_a_im2col_t(a, rows, i0, mc, p0, kc, out);
  } else {
    pack_a_plain(a, rows, i0, mc, p0, kc, out);
  }
}

/* Plain B depth [p0, p0+kc), columns [j0, j0+nc): element (p, j) is p[p·ld + j], or p[j·ld + p] transposed. */
void pack_b(const Operand *b, int32_t cols, int32_t p0, int32_t kc, int32_t j0, int32_t nc, float *out) {
  for (int32_t j = 0; j < nc; j += NR, out += NR * kc) {
    const int32_t nr = min32(NR, cols - j0 - j);
    if (!b->trans) {
      const float *src = b->p + p0 * b->ld + j0 + j;
      if (nr == NR) {
        for (int32_t k = 0; k < kc; k++) {
          wasm_v128_store(out + k * NR, wasm_v128_load(src + k * b->ld));
          wasm_v128_store(out + k * NR + 4, wasm_v128_load(src + k * b->ld + 4));
        }
      } else {
        for (int32_t k = 0; k < kc; k++) {
          for (int32_t q = 0; q < NR; q++) out[k * NR + q] = q < nr ? src[k * b->ld + q] : 0.0f;
        }
      }
    } else {
      /* Each of the panel's columns is a contiguous row of B as stored: interleave 4 + 4. */
      const float *row[NR];
      for (int32_t q = 0; q < NR; q++) row[q] = q < nr ? b->p + (j0 + j + q) * b->ld + p0 : 0;
      interleave_rows(row[0], row[1], row[2], row[3], kc, out, NR);
      interleave_rows(row[4], row[5], row[6], row[7], kc, out + 4, NR);
    }
  }
}
