/*
 * conv2d and its gradients as GEMMs on the im2col matrix X̃ [n·oh·ow, kh·kw·c] of the
 * NHWC input, never materialised (see gemm.h). The filter [kh, kw, c, o] is W [K, o]
 * with K = kh·kw·c, row-major as tfjs stores it.
 *
 * Each kernel's `work` block starts with the ConvGeometry the caller wrote.
 */
#include "gemm.h"

static inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

static inline Operand *operands(uint8_t *work) { return (Operand *)(work + WORK_OPERANDS_OFFSET); }
static inline float *scratch(uint8_t *work) { return (float *)(work + WORK_HEADER_BYTES); }

/* Extra scratch floats conv2d_backprop_input needs for k = kh·kw·c: MC rows of dX̃. */
EXPORT("conv2d_backprop_input_extra_bytes") int32_t conv2d_backprop_input_extra_bytes(int32_t k) {
  return MC * k * (int32_t)sizeof(float);
}

/* y [n, oh, ow, o] = X̃ · W (+ bias [o] on every row when bias is not 0): output pixels [row_begin, row_end). */
EXPORT("conv2d")
void conv2d(const float *x, const float *w, const float *bias, float *y, uint8_t *work, int32_t row_begin,
            int32_t row_end) {
  const ConvGeometry *g = (const ConvGeometry *)work;
  const int32_t depth = g->kh * g->kw * g->c;
  if (bias) {
    for (int32_t r = row_begin; r < row_end; r++) {
      for (int32_t j = 0; j < g->o; j++) y[r * g->o + j] = bias[j];
    }
  }
  Operand *op = operands(work);
  op[0] = (Operand){OPERAND_IM2COL, x, 0, 0, g};
  op[1] = (Operand){OPERAND_PLAIN, w, g->o, 0, 0};
  gemm(row_begin, row_end, g->o, depth, &op[0], &op[1], y, g->o, bias != 0, scratch(work));
}

/*
 * dW [kh, kw, c, o] = X̃ᵀ · dy: dW[t, ch, j] = Σ_pixels x̃[pixel, t, ch] · dy[pixel, j];
 * rows (tap·c + channel) [row_begin, row_end).
 */
EXPORT("conv2d_backprop_filter")
void conv2d_backprop_filter(const float *x, const float *dy, float *dw, uint8_t *work, int32_t row_begin,
                            int32_t row_end) {
  const ConvGeometry *g = (const ConvGeometry *)work;
  const int32_t pixels = g->n * g->oh * g->ow;
  Operand *op = operands(work);
  op[0] = (Operand){OPERAND_IM2COL_T, x, 0, 0, g};
  op[1] = (Operand){OPERAND_PLAIN, dy, g->o, 0, 0};
  gemm(row_begin, row_end, g->o, pixels, &op[0], &op[1], dw, g->o, 0, scratch(work));
}

/*
 * dx [n, h, w, c] = col2im(dy · Wᵀ) for images [image_begin, image_end) (the images'
 * input pixels are theirs alone, so threads can split the batch): MC output pixels at a
 * time, their rows of dX̃ = dy·Wᵀ [MC, K] go to scratch, then each tap's c values are
 * added to the input pixel that tap read (padding taps are dropped).
 */
EXPORT("conv2d_backprop_input")
void conv2d_backprop_input(const float *dy, const float *w, float *dx, uint8_t *work, int32_t image_begin,
                           int32_t image_end) {
  const ConvGeometry *g = (const ConvGeometry *)work;
  const int32_t depth = g->kh * g->kw * g->c;
  const int32_t image_rows = g->oh * g->ow, image_size = g->h * g->w * g->c;
  float *gemm_work = scratch(work);
  float *dcol = gemm_work + GEMM_WORK_FLOATS;
  for (int32_t i = image_begin * image_size; i < image_end * image_size; i++) dx[i] = 0.0f;
  Operand *op = operands(work);
  const int32_t rows = image_end * image_rows;
  for (int32_t r0 = image_begin * image_rows; r0 < rows; r0 += MC) {
    const int32_t mc = min32(MC, rows - r0);
    op[0] = (Operand){OPERAND_PLAIN, dy + r0 * g->o, g->o, 0, 0};
    op[1] = (Operand){OPERAND_PLAIN, w, g->o, 1, 0};
    gemm(0, mc, depth, g->o, &op[0], &op[1], dcol, depth, 0, gemm_work);
    for (int32_t r = 0; r < mc; r++) {
      const int32_t m = r0 + r;
      const int32_t ox = m % g->ow, oy = (m / g->ow) % g->oh, img = m / (g->ow * g->oh);
      const float *src = dcol + r * depth;
      for (int32_t ky = 0; ky < g->kh; ky++) {
        const int32_t y = oy * g->sh - g->pt + ky * g->dh;
        if (y < 0 || y >= g->h) {
          src += g->kw * g->c;
          continue;
        }
        for (int32_t kx = 0; kx < g->kw; kx++, src += g->c) {
          const int32_t x = ox * g->sw - g->pl + kx * g->dw;
          if (x < 0 || x >= g->w) continue;
          float *dst = dx + ((img * g->h + y) * g->w + x) * g->c;
          for (int32_t ch = 0; ch < g->c; ch++) dst[ch] += src[ch];
        }
      }
    }
  }
}
