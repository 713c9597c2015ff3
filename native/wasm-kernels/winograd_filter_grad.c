/*
 * The filter gradient of a 3×3 stride-1 conv2d as the adjoint of its Winograd F(2×2, 3×3)
 * form (winograd.c): the forward pass is Y = Aᵀ [Σ_c U[ξ] ⊙ V[ξ]] A with U = G g Gᵀ, so
 *
 *   dU[ξ] [C, O] = Σ_tiles V[ξ]ᵀ · dM[ξ],   dM = A dY Aᵀ  (dY: a tile's 2×2 output gradient),
 *   dg = Gᵀ dU G,
 *
 * exact (the adjoint of an exact factorisation), with 16·C·O multiply-adds per tile
 * instead of 36·C·O, and GEMMs whose depth is the number of tiles.
 *
 *   A = [1 0; 1 1; 1 −1; 0 −1]   (4×2)
 *
 * A thread takes whole blocks of tiles and adds into its own dU (after the header of
 * its `work` block: V [16][C/4][tile_block][4] and dM [16][O/8][tile_block][8] panels,
 * then dU [16][C₄][O₈], C₄ and O₈ rounded up to 4 and 8); the caller zeroes every
 * thread's dU first and adds each one's Gᵀ dU G into dw afterwards
 * (winograd_filter_grad_finish).
 */
#include "winograd.h"

static inline int32_t padded_c(const ConvGeometry *g) { return round_up(g->c, MR); }
static inline int32_t padded_o(const ConvGeometry *g) { return round_up(g->o, NR); }

/* Bytes of a thread's block for `tile_block` tiles. */
EXPORT("winograd_filter_grad_work_bytes")
int32_t winograd_filter_grad_work_bytes(int32_t c, int32_t o, int32_t tile_block) {
  const int32_t c4 = round_up(c, MR), o8 = round_up(o, NR);
  return WORK_HEADER_BYTES + (16 * tile_block * (c4 + o8) + 16 * c4 * o8) * (int32_t)sizeof(float);
}

/* Where dU starts in a block (bytes from the block's start), for the caller to zero it. */
EXPORT("winograd_filter_grad_du_offset")
int32_t winograd_filter_grad_du_offset(int32_t c, int32_t o, int32_t tile_block) {
  return WORK_HEADER_BYTES + 16 * tile_block * (round_up(c, MR) + round_up(o, NR)) * (int32_t)sizeof(float);
}

/* dY of output pixel (y, x), channels o.. (up to four, zeros past O), or zeros outside the output. */
static inline v128_t dy_upto4(const float *dy, const ConvGeometry *g, int32_t b, int32_t y, int32_t x, int32_t o) {
  if (y >= g->oh || x >= g->ow || o >= g->o) return wasm_f32x4_splat(0.0f);
  const float *p = dy + ((b * g->oh + y) * g->ow + x) * g->o + o;
  if (o + 4 <= g->o) return wasm_v128_load(p);
  const int32_t n = g->o - o;
  return wasm_f32x4_make(p[0], n > 1 ? p[1] : 0.0f, n > 2 ? p[2] : 0.0f, 0.0f);
}

/* A·(a, b) = (a, a + b, a − b, −b). */
#define A2(a, b, r0, r1, r2, r3)   \
  do {                             \
    r0 = a;                        \
    r1 = wasm_f32x4_add(a, b);     \
    r2 = wasm_f32x4_sub(a, b);     \
    r3 = wasm_f32x4_neg(b);        \
  } while (0)

/* dM = A dY Aᵀ of one tile, output channels o..o+3, stored at dst + ξ·xs. */
static inline void transform_output_gradient(const float *dy, const ConvGeometry *g, int32_t b, int32_t ty, int32_t tx,
                                             int32_t o, float *dst, int32_t xs) {
  const v128_t d00 = dy_upto4(dy, g, b, 2 * ty, 2 * tx, o), d01 = dy_upto4(dy, g, b, 2 * ty, 2 * tx + 1, o);
  const v128_t d10 = dy_upto4(dy, g, b, 2 * ty + 1, 2 * tx, o), d11 = dy_upto4(dy, g, b, 2 * ty + 1, 2 * tx + 1, o);
  v128_t t00, t10, t20, t30, t01, t11, t21, t31, r0, r1, r2, r3;
  A2(d00, d10, t00, t10, t20, t30); /* A·(column 0 of dY) */
  A2(d01, d11, t01, t11, t21, t31); /* A·(column 1) */
#define ROW(i, a, bb)                 \
  A2(a, bb, r0, r1, r2, r3);          \
  wasm_v128_store(dst + (4 * i + 0) * xs, r0); \
  wasm_v128_store(dst + (4 * i + 1) * xs, r1); \
  wasm_v128_store(dst + (4 * i + 2) * xs, r2); \
  wasm_v128_store(dst + (4 * i + 3) * xs, r3)
  ROW(0, t00, t01);
  ROW(1, t10, t11);
  ROW(2, t20, t21);
  ROW(3, t30, t31);
#undef ROW
}

/*
 * Adds Σ over tiles [tile_begin, tile_end) of V[ξ]ᵀ·dM[ξ] into this thread's dU, for x
 * [n, h, w, c] and dy [n, oh, ow, o] (the forward conv's geometry, at the start of work).
 */
EXPORT("winograd_filter_grad")
void winograd_filter_grad(const float *x, const float *dy, uint8_t *work, int32_t tile_block, int32_t tile_begin,
                          int32_t tile_end) {
  const ConvGeometry *g = (const ConvGeometry *)work;
  const int32_t c4 = padded_c(g), o8 = padded_o(g);
  const int32_t tiles_h = (g->oh + 1) / 2, tiles_w = (g->ow + 1) / 2;
  float *v = (float *)(work + WORK_HEADER_BYTES);
  float *dm = v + 16 * tile_block * c4;
  float *du = dm + 16 * tile_block * o8;
  const int32_t v_xs = tile_block * c4, m_xs = tile_block * o8;
  for (int32_t t0 = tile_begin; t0 < tile_end; t0 += tile_block) {
    const int32_t count = min32(tile_block, tile_end - t0);
    for (int32_t t = 0; t < count; t++) {
      const int32_t tile = t0 + t;
      const int32_t b = tile / (tiles_h * tiles_w), ty = (tile / tiles_w) % tiles_h, tx = tile % tiles_w;
      /* V panels: channel group ch/4, row t, four channels contiguous. */
      for (int32_t ch = 0; ch < c4; ch += 4) {
        transform_tile(x, g, b, 2 * ty - g->pt, 2 * tx - g->pl, ch, v + (ch / 4) * tile_block * 4 + t * 4, v_xs, PACKED);
      }
      /* dM panels: column group o/8, row t, NR columns. */
      for (int32_t o = 0; o < o8; o += 4) {
        transform_output_gradient(dy, g, b, ty, tx, o, dm + (o / NR) * tile_block * NR + t * NR + o % NR, m_xs);
      }
    }
    for (int32_t xi = 0; xi < 16; xi++) {
      const float *vx = v + xi * v_xs, *mx = dm + xi * m_xs;
      float *ux = du + xi * c4 * o8;
      for (int32_t ic = 0; ic < c4; ic += MR) {
        for (int32_t jo = 0; jo < o8; jo += NR) {
          gemm_micro_tile(count, vx + ic * tile_block, mx + jo * tile_block, ux + ic * o8 + jo, o8, 1);
        }
      }
    }
  }
}

/* Gᵀ·(a, b, c, d) = (a + ½b + ½c, ½b − ½c, ½b + ½c + d). */
#define GT4(a, b, c, d, r0, r1, r2)                                                           \
  do {                                                                                        \
    const v128_t half = wasm_f32x4_splat(0.5f);                                               \
    const v128_t hb = wasm_f32x4_mul(half, b), hc = wasm_f32x4_mul(half, c);                  \
    r0 = wasm_f32x4_add(wasm_f32x4_add(a, hb), hc);                                           \
    r1 = wasm_f32x4_sub(hb, hc);                                                              \
    r2 = wasm_f32x4_add(wasm_f32x4_add(hb, hc), d);                                           \
  } while (0)

/* Adds (or, with `first`, writes) v to dw's channels o.. (four, or the last 1-3). */
static inline void put_dw(float *dst, v128_t v, int32_t left, int32_t first) {
  if (left >= 4) {
    wasm_v128_store(dst, first ? v : wasm_f32x4_add(v, wasm_v128_load(dst)));
    return;
  }
  const v128_t old = first ? wasm_f32x4_splat(0.0f)
                           : wasm_f32x4_make(dst[0], left > 1 ? dst[1] : 0.0f, left > 2 ? dst[2] : 0.0f, 0.0f);
  v = wasm_f32x4_add(v, old);
  wasm_v128_store32_lane(dst, v, 0);
  if (left > 1) wasm_v128_store32_lane(dst + 1, v, 1);
  if (left > 2) wasm_v128_store32_lane(dst + 2, v, 2);
}

/* dw [3, 3, c, o] (+)= Gᵀ dU G of one thread's dU (`first`: write instead of add). */
EXPORT("winograd_filter_grad_finish")
void winograd_filter_grad_finish(uint8_t *work, int32_t tile_block, float *dw, int32_t first) {
  const ConvGeometry *g = (const ConvGeometry *)work;
  const int32_t c = g->c, o = g->o, c4 = padded_c(g), o8 = padded_o(g), taps = c * o;
  const float *du = (const float *)(work + WORK_HEADER_BYTES) + 16 * tile_block * (c4 + o8);
  for (int32_t ch = 0; ch < c; ch++) {
    for (int32_t oc = 0; oc < o; oc += 4) {
      const float *u = du + ch * o8 + oc;
      const int32_t xs = c4 * o8, left = o - oc;
#define U(i, j) wasm_v128_load(u + (4 * (i) + (j)) * xs)
      /* Gᵀ dU: rows r0..r2 of four columns each. */
      v128_t r00, r10, r20, r01, r11, r21, r02, r12, r22, r03, r13, r23;
      GT4(U(0, 0), U(1, 0), U(2, 0), U(3, 0), r00, r10, r20);
      GT4(U(0, 1), U(1, 1), U(2, 1), U(3, 1), r01, r11, r21);
      GT4(U(0, 2), U(1, 2), U(2, 2), U(3, 2), r02, r12, r22);
      GT4(U(0, 3), U(1, 3), U(2, 3), U(3, 3), r03, r13, r23);
#undef U
      /* · G: each row's four columns to three taps. */
      float *dst = dw + ch * o + oc;
      v128_t k0, k1, k2;
#define ROW(ky, a, b, cc, d)                        \
  GT4(a, b, cc, d, k0, k1, k2);                     \
  put_dw(dst + ((ky) * 3 + 0) * taps, k0, left, first); \
  put_dw(dst + ((ky) * 3 + 1) * taps, k1, left, first); \
  put_dw(dst + ((ky) * 3 + 2) * taps, k2, left, first)
      ROW(0, r00, r01, r02, r03);
      ROW(1, r10, r11, r12, r13);
      ROW(2, r20, r21, r22, r23);
#undef ROW
    }
  }
}
