/* Packing GEMM operands into the micro-kernel's panel layout (see gemm.h). */
#include "gemm.h"

static inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

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
      for (int32_t q = 0; q < MR; q++) {
        if (q < mr) {
          const float *src = a->p + (i0 + i + q) * a->ld + p0;
          for (int32_t k = 0; k < kc; k++) out[k * MR + q] = src[k];
        } else {
          for (int32_t k = 0; k < kc; k++) out[k * MR + q] = 0.0f;
        }
      }
    }
  }
}

/*
 * X̃ rows (output pixels) [i0, i0+mc), depth (tap·c + channel) [p0, p0+kc). Each
 * row's depth range is a few runs of contiguous channels of one input pixel (or of
 * padding zeros), copied run by run.
 */
static void pack_a_im2col(const Operand *a, int32_t rows, int32_t i0, int32_t mc, int32_t p0, int32_t kc, float *out) {
  const ConvGeometry *g = a->g;
  for (int32_t i = 0; i < mc; i += MR, out += MR * kc) {
    for (int32_t q = 0; q < MR; q++) {
      const int32_t m = i0 + i + q;
      if (m >= rows) {
        for (int32_t k = 0; k < kc; k++) out[k * MR + q] = 0.0f;
        continue;
      }
      const int32_t ox = m % g->ow, oy = (m / g->ow) % g->oh, img = m / (g->ow * g->oh);
      const int32_t y0 = oy * g->sh - g->pt, x0 = ox * g->sw - g->pl;
      int32_t tap = p0 / g->c, ch = p0 % g->c;
      for (int32_t k = 0; k < kc;) {
        const int32_t run = min32(g->c - ch, kc - k);
        const int32_t y = y0 + (tap / g->kw) * g->dh, x = x0 + (tap % g->kw) * g->dw;
        if (y >= 0 && y < g->h && x >= 0 && x < g->w) {
          const float *src = a->p + ((img * g->h + y) * g->w + x) * g->c + ch;
          for (int32_t r = 0; r < run; r++) out[(k + r) * MR + q] = src[r];
        } else {
          for (int32_t r = 0; r < run; r++) out[(k + r) * MR + q] = 0.0f;
        }
        k += run;
        ch = 0;
        tap++;
      }
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
      for (int32_t q = 0; q < NR; q++) {
        if (q < nr) {
          const float *src = b->p + (j0 + j + q) * b->ld + p0;
          for (int32_t k = 0; k < kc; k++) out[k * NR + q] = src[k];
        } else {
          for (int32_t k = 0; k < kc; k++) out[k * NR + q] = 0.0f;
        }
      }
    }
  }
}
