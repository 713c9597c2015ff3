/*
 * 3×3 stride-1 conv2d by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016):
 * each 2×2 block of output pixels (a tile) comes from the 4×4 input block d around it,
 *
 *   Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A,
 *
 * so the 16 positions ξ of the 4×4 transformed domain are 16 independent GEMMs
 * M[ξ] [tiles, O] = V[ξ] [tiles, C] · U[ξ] [C, O]: 16·C·O multiply-adds per 4 output
 * pixels instead of 36·C·O (2.25× fewer), plus the transforms.
 *
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
 *   Aᵀ = [1 1 1 0; 0 1 −1 −1]
 *
 * U is transformed once per call (winograd_filter), straight into the micro-kernel's
 * NR-column panels. Tiles go in blocks of `tile_block` (a multiple of MR): a block's V is
 * written straight into MR-row panels, multiplied by U for every ξ into M, and M is
 * transformed back into y; a thread takes whole blocks. The geometry (gemm.h's
 * ConvGeometry) is at the start of `work`; V and M follow the header.
 */
#include "winograd.h"

/* Floats of a thread's V and M for `tile_block` tiles. */
static inline int32_t block_floats(int32_t c, int32_t o, int32_t tile_block) {
  return 16 * tile_block * (c + round_up(o, NR));
}

EXPORT("winograd_work_bytes") int32_t winograd_work_bytes(int32_t c, int32_t o, int32_t tile_block) {
  return WORK_HEADER_BYTES + block_floats(c, o, tile_block) * (int32_t)sizeof(float);
}

/* Floats of the transformed filter U [16][O/NR panels][C][NR]. */
EXPORT("winograd_filter_floats") int32_t winograd_filter_floats(int32_t c, int32_t o) {
  return 16 * c * round_up(o, NR);
}

/* G·(a, b, c) = (a, ½(a + b + c), ½(a − b + c), c), four lanes at a time. */
#define G3(a, b, c, r0, r1, r2, r3)                                                    \
  do {                                                                                 \
    const v128_t half = wasm_f32x4_splat(0.5f);                                        \
    r0 = a;                                                                            \
    r1 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(a, b), c));                 \
    r2 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(a, b), c));                 \
    r3 = c;                                                                            \
  } while (0)

/*
 * U = G g Gᵀ of four lanes' 3×3 filters, each 3×3 tap read by `tap(ky, kx)` and each of
 * the 16 results handed to `put(ξ, value)`. Always inlined with constant arguments (see
 * transform_tile on why there are no arrays).
 */
#define FILTER_TRANSFORM(tap, put)                                                     \
  do {                                                                                 \
    v128_t t00, t01, t02, t10, t11, t12, t20, t21, t22, t30, t31, t32;                 \
    G3(tap(0, 0), tap(1, 0), tap(2, 0), t00, t10, t20, t30);                           \
    G3(tap(0, 1), tap(1, 1), tap(2, 1), t01, t11, t21, t31);                           \
    G3(tap(0, 2), tap(1, 2), tap(2, 2), t02, t12, t22, t32);                           \
    v128_t u0, u1, u2, u3;                                                             \
    G3(t00, t01, t02, u0, u1, u2, u3);                                                 \
    put(0, u0); put(1, u1); put(2, u2); put(3, u3);                                    \
    G3(t10, t11, t12, u0, u1, u2, u3);                                                 \
    put(4, u0); put(5, u1); put(6, u2); put(7, u3);                                    \
    G3(t20, t21, t22, u0, u1, u2, u3);                                                 \
    put(8, u0); put(9, u1); put(10, u2); put(11, u3);                                  \
    G3(t30, t31, t32, u0, u1, u2, u3);                                                 \
    put(12, u0); put(13, u1); put(14, u2); put(15, u3);                                \
  } while (0)

/*
 * U = G g Gᵀ for every (input channel ci < cin, output channel co < cout), into NR-column
 * panels u[ξ][co/NR][ci][NR] (columns past cout zero). g is the filter w [3, 3, cin, cout],
 * or with `rotated` the input gradient's filter: w [3, 3, cout, cin] turned 180°
 * (g[ky][kx] = w[2−ky][2−kx], channel axes swapped), which makes dx a stride-1 conv of
 * dy. Four output channels at a time (four input channels when rotated: whichever is
 * contiguous in w), the last 1-3 one by one.
 */
EXPORT("winograd_filter")
void winograd_filter(const float *w, float *u, int32_t cin, int32_t cout, int32_t rotated) {
  const int32_t cout_pad = round_up(cout, NR), xs = cin * cout_pad, taps = cin * cout;
  for (int32_t i = 0; i < 16 * xs; i++) u[i] = 0.0f;
  for (int32_t ci = 0; ci < cin; ci++) {
    for (int32_t co = 0; co < cout; co++) {
      float *panel = u + (co / NR) * cin * NR + ci * NR + co % NR;
      if (!rotated && co + 4 <= cout) {
        /* co..co+3: contiguous in w and in the panel (co % 4 == 0 here, NR = 8). */
        const float *src = w + ci * cout + co;
#define TAP(ky, kx) wasm_v128_load(src + ((ky) * 3 + (kx)) * taps)
#define PUT(xi, v) wasm_v128_store(panel + (xi) * xs, v)
        FILTER_TRANSFORM(TAP, PUT);
#undef TAP
#undef PUT
        co += 3;
      } else if (rotated && ci % 4 == 0 && ci + 4 <= cin) {
        /* ci..ci+3 of this co: contiguous in w, NR apart in the panel. Done once per co
         * at ci % 4 == 0; the other three ci of the group skip (below). */
        const float *src = w + co * cin + ci;
#define TAP(ky, kx) wasm_v128_load(src + ((2 - (ky)) * 3 + (2 - (kx))) * taps)
#define PUT(xi, v)                                                   \
  do {                                                               \
    float *p = panel + (xi) * xs;                                    \
    wasm_v128_store32_lane(p, v, 0);                                 \
    wasm_v128_store32_lane(p + NR, v, 1);                            \
    wasm_v128_store32_lane(p + 2 * NR, v, 2);                        \
    wasm_v128_store32_lane(p + 3 * NR, v, 3);                        \
  } while (0)
        FILTER_TRANSFORM(TAP, PUT);
#undef TAP
#undef PUT
      } else if (!rotated || ci >= (cin & ~3)) {
        /* One filter, in lane 0. */
        const float *src = rotated ? w + co * cin + ci : w + ci * cout + co;
#define TAP(ky, kx) \
  wasm_f32x4_splat(src[(rotated ? (2 - (ky)) * 3 + (2 - (kx)) : (ky) * 3 + (kx)) * taps])
#define PUT(xi, v) wasm_v128_store32_lane(panel + (xi) * xs, v, 0)
        FILTER_TRANSFORM(TAP, PUT);
#undef TAP
#undef PUT
      }
    }
    if (rotated && ci % 4 == 0 && ci + 4 <= cin) ci += 3;
  }
}

/*
 * V of the tiles [t0, t0 + tile_block) into MR-row panels v[ξ][tile/MR][C][MR]; tiles past
 * `tiles` are zero rows.
 */
static void transform_inputs(const float *x, const ConvGeometry *g, int32_t tiles_w, int32_t tiles_h, int32_t tiles,
                             int32_t t0, int32_t tile_block, float *v) {
  const int32_t c = g->c, c4 = c & ~3, xs = tile_block * c;
  for (int32_t t = 0; t < tile_block; t++) {
    float *vt = v + (t / MR) * c * MR + t % MR;
    const int32_t tile = t0 + t;
    if (tile >= tiles) {
      for (int32_t xi = 0; xi < 16; xi++) {
        for (int32_t ch = 0; ch < c; ch++) vt[xi * xs + ch * MR] = 0.0f;
      }
      continue;
    }
    const int32_t b = tile / (tiles_h * tiles_w), ty = (tile / tiles_w) % tiles_h, tx = tile % tiles_w;
    const int32_t y0 = 2 * ty - g->pt, x0 = 2 * tx - g->pl;
    for (int32_t ch = 0; ch < c4; ch += 4) transform_tile(x, g, b, y0, x0, ch, vt + ch * MR, xs, PANEL4);
    for (int32_t ch = c4; ch < c; ch++) transform_tile(x, g, b, y0, x0, ch, vt + ch * MR, xs, PANEL1);
  }
}

/* Writes an output pixel's channels oc.. (all four, or the last 1-3 lane by lane), + bias. */
static inline void store_pixel(float *dst, v128_t value, const float *bias, int32_t oc, int32_t o) {
  const int32_t left = o - oc;
  if (left >= 4) {
    wasm_v128_store(dst, bias ? wasm_f32x4_add(value, wasm_v128_load(bias + oc)) : value);
    return;
  }
  if (bias) {
    value = wasm_f32x4_add(value, wasm_f32x4_make(bias[oc], left > 1 ? bias[oc + 1] : 0.0f, left > 2 ? bias[oc + 2] : 0.0f, 0.0f));
  }
  wasm_v128_store32_lane(dst, value, 0);
  if (left > 1) wasm_v128_store32_lane(dst + 1, value, 1);
  if (left > 2) wasm_v128_store32_lane(dst + 2, value, 2);
}

/*
 * y of the tiles [t0, t0 + count) from M [16][tile_block][O_pad]: Y = Aᵀ M A (+ bias),
 * writing only output pixels inside [oh, ow].
 */
static void transform_outputs(const float *m, const float *bias, float *y, const ConvGeometry *g, int32_t tiles_w,
                              int32_t tiles_h, int32_t t0, int32_t count, int32_t tile_block) {
  const int32_t o = g->o, o_pad = round_up(o, NR), xs = tile_block * o_pad;
  for (int32_t t = 0; t < count; t++) {
    const int32_t tile = t0 + t;
    const int32_t b = tile / (tiles_h * tiles_w), ty = (tile / tiles_w) % tiles_h, tx = tile % tiles_w;
    const int32_t rows = min32(2, g->oh - 2 * ty), cols = min32(2, g->ow - 2 * tx);
    float *out = y + ((b * g->oh + 2 * ty) * g->ow + 2 * tx) * o;
    for (int32_t oc = 0; oc < o; oc += 4) {
      const float *mt = m + t * o_pad + oc;
      /* Aᵀ M: s0j = m0j + m1j + m2j, s1j = m1j − m2j − m3j, for every column j. */
#define S(j, s0, s1)                                                                                          \
  const v128_t s0 = wasm_f32x4_add(wasm_f32x4_add(wasm_v128_load(mt + j * xs), wasm_v128_load(mt + (4 + j) * xs)), \
                                   wasm_v128_load(mt + (8 + j) * xs));                                           \
  const v128_t s1 = wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(mt + (4 + j) * xs), wasm_v128_load(mt + (8 + j) * xs)), \
                                   wasm_v128_load(mt + (12 + j) * xs))
      S(0, s00, s10);
      S(1, s01, s11);
      S(2, s02, s12);
      S(3, s03, s13);
#undef S
      /* · A: y_i0 = s_i0 + s_i1 + s_i2, y_i1 = s_i1 − s_i2 − s_i3. */
      store_pixel(out + oc, wasm_f32x4_add(wasm_f32x4_add(s00, s01), s02), bias, oc, o);
      if (cols > 1) store_pixel(out + o + oc, wasm_f32x4_sub(wasm_f32x4_sub(s01, s02), s03), bias, oc, o);
      if (rows > 1) {
        store_pixel(out + g->ow * o + oc, wasm_f32x4_add(wasm_f32x4_add(s10, s11), s12), bias, oc, o);
        if (cols > 1) store_pixel(out + (g->ow + 1) * o + oc, wasm_f32x4_sub(wasm_f32x4_sub(s11, s12), s13), bias, oc, o);
      }
    }
  }
}

/*
 * y [n, oh, ow, o] = the conv of x [n, h, w, c] by the filter U was made from (+ bias [o]
 * when bias is not 0), for tiles [tile_begin, tile_end) (multiples of tile_block but the
 * last end) of the ⌈oh/2⌉·⌈ow/2⌉ tiles of every image.
 */
EXPORT("winograd_conv2d")
void winograd_conv2d(const float *x, const float *u, const float *bias, float *y, uint8_t *work, int32_t tile_block,
                     int32_t tile_begin, int32_t tile_end) {
  const ConvGeometry *g = (const ConvGeometry *)work;
  const int32_t c = g->c, o_pad = round_up(g->o, NR);
  const int32_t tiles_h = (g->oh + 1) / 2, tiles_w = (g->ow + 1) / 2, tiles = g->n * tiles_h * tiles_w;
  float *v = (float *)(work + WORK_HEADER_BYTES);
  float *m = v + 16 * tile_block * c;
  for (int32_t t0 = tile_begin; t0 < tile_end; t0 += tile_block) {
    transform_inputs(x, g, tiles_w, tiles_h, tiles, t0, tile_block, v);
    for (int32_t xi = 0; xi < 16; xi++) {
      const float *vx = v + xi * tile_block * c, *ux = u + xi * c * o_pad;
      float *mx = m + xi * tile_block * o_pad;
      for (int32_t jr = 0; jr < o_pad; jr += NR) {
        for (int32_t ir = 0; ir < tile_block; ir += MR) gemm_micro_tile(c, vx + ir * c, ux + jr * c, mx + ir * o_pad + jr, o_pad, 0);
      }
    }
    transform_outputs(m, bias, y, g, tiles_w, tiles_h, t0, min32(tile_block, tile_end - t0), tile_block);
  }
}
