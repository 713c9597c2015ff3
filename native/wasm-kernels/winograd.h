/*
 * What winograd.c (the forward conv and input gradient) and winograd_filter_grad.c share:
 * F(2×2, 3×3)'s input transform V = Bᵀ d B of a tile's 4×4 input block, read in place from
 * the NHWC image, and the panel layouts it writes. See winograd.c for the method.
 */
#ifndef DIFFLIB_WINOGRAD_H
#define DIFFLIB_WINOGRAD_H

#include "gemm.h"

static inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t round_up(int32_t v, int32_t m) { return (v + m - 1) / m * m; }

/* The input pixel (y, x) of image b, four channels from ch, or zeros outside the image. */
static inline v128_t pixel4(const float *x, const ConvGeometry *g, int32_t b, int32_t y, int32_t xx, int32_t ch) {
  if (y < 0 || y >= g->h || xx < 0 || xx >= g->w) return wasm_f32x4_splat(0.0f);
  return wasm_v128_load(x + ((b * g->h + y) * g->w + xx) * g->c + ch);
}

/* One channel's value of the same pixel, in lane 0. */
static inline v128_t pixel1(const float *x, const ConvGeometry *g, int32_t b, int32_t y, int32_t xx, int32_t ch) {
  if (y < 0 || y >= g->h || xx < 0 || xx >= g->w) return wasm_f32x4_splat(0.0f);
  return wasm_f32x4_splat(x[((b * g->h + y) * g->w + xx) * g->c + ch]);
}

/*
 * Bᵀ·(one row or column of four): (a − c, b + c, c − b, b − d). Written as macros over
 * named locals: arrays of vectors would live on a C stack, which this module has none of.
 */
#define BT(a, b, c, d, r0, r1, r2, r3) \
  do {                                 \
    r0 = wasm_f32x4_sub(a, c);         \
    r1 = wasm_f32x4_add(b, c);         \
    r2 = wasm_f32x4_sub(c, b);         \
    r3 = wasm_f32x4_sub(b, d);         \
  } while (0)

/*
 * How transform_tile reads and stores channels: PANEL4, channels ch..ch+3 into an MR-row
 * panel (one lane every MR floats, the forward pass); PANEL1, channel ch alone (lane 0, the
 * forward pass's last 1-3 channels); PACKED, channels ch..ch+3 (zeros past c) as one vector
 * (the filter gradient's panels, whose rows are channels).
 */
enum { PACKED = 0, PANEL1 = 1, PANEL4 = 4 };

static inline void store_lanes(float *p, v128_t v, int32_t mode) {
  if (mode == PACKED) {
    wasm_v128_store(p, v);
    return;
  }
  wasm_v128_store32_lane(p, v, 0);
  if (mode == PANEL4) {
    wasm_v128_store32_lane(p + MR, v, 1);
    wasm_v128_store32_lane(p + 2 * MR, v, 2);
    wasm_v128_store32_lane(p + 3 * MR, v, 3);
  }
}

/* The pixel's channels ch.. (up to four, zeros past c), or zeros outside the image. */
static inline v128_t pixel_upto4(const float *x, const ConvGeometry *g, int32_t b, int32_t y, int32_t xx, int32_t ch) {
  if (ch + 4 <= g->c) return pixel4(x, g, b, y, xx, ch);
  if (y < 0 || y >= g->h || xx < 0 || xx >= g->w) return wasm_f32x4_splat(0.0f);
  const float *p = x + ((b * g->h + y) * g->w + xx) * g->c + ch;
  const int32_t n = g->c - ch;
  return wasm_f32x4_make(n > 0 ? p[0] : 0.0f, n > 1 ? p[1] : 0.0f, n > 2 ? p[2] : 0.0f, 0.0f);
}

/* d[i][j] of the 4×4 block at (y0, x0), read as `mode` says. */
static inline v128_t load_d(const float *x, const ConvGeometry *g, int32_t b, int32_t y, int32_t xx, int32_t ch,
                            int32_t mode) {
  if (mode == PANEL4) return pixel4(x, g, b, y, xx, ch);
  if (mode == PANEL1) return pixel1(x, g, b, y, xx, ch);
  return pixel_upto4(x, g, b, y, xx, ch);
}

/*
 * V = Bᵀ d B of one tile's channels from ch, read and stored as `mode` says, V[ξ] at
 * dst + ξ·xs. Always inlined with a constant `mode`, so the cases stay apart (merged, the
 * lane index becomes a variable, which wasm can only extract through a stack this module
 * does not have).
 */
static inline __attribute__((always_inline)) void transform_tile(const float *x, const ConvGeometry *g, int32_t b,
                                                                int32_t y0, int32_t x0, int32_t ch, float *dst,
                                                                int32_t xs, int32_t mode) {
  /* Columns first: e_ij = (Bᵀ d)_ij, one column j of d at a time. */
  v128_t e00, e01, e02, e03, e10, e11, e12, e13, e20, e21, e22, e23, e30, e31, e32, e33;
#define COLUMN(j, r0, r1, r2, r3)                                                               \
  BT(load_d(x, g, b, y0, x0 + j, ch, mode), load_d(x, g, b, y0 + 1, x0 + j, ch, mode),         \
     load_d(x, g, b, y0 + 2, x0 + j, ch, mode), load_d(x, g, b, y0 + 3, x0 + j, ch, mode), r0, \
     r1, r2, r3)
  COLUMN(0, e00, e10, e20, e30);
  COLUMN(1, e01, e11, e21, e31);
  COLUMN(2, e02, e12, e22, e32);
  COLUMN(3, e03, e13, e23, e33);
#undef COLUMN
  /* Then rows: V_i· = e_i· B, stored at ξ = 4i + j. */
  v128_t r0, r1, r2, r3;
#define ROW(i, a, bb, cc, d)                        \
  BT(a, bb, cc, d, r0, r1, r2, r3);                 \
  store_lanes(dst + (4 * i + 0) * xs, r0, mode);   \
  store_lanes(dst + (4 * i + 1) * xs, r1, mode);   \
  store_lanes(dst + (4 * i + 2) * xs, r2, mode);   \
  store_lanes(dst + (4 * i + 3) * xs, r3, mode)
  ROW(0, e00, e01, e02, e03);
  ROW(1, e10, e11, e12, e13);
  ROW(2, e20, e21, e22, e23);
  ROW(3, e30, e31, e32, e33);
#undef ROW
}

#endif
