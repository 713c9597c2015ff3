/*
 * Group normalisation fused with ADM's scale-shift conditioning and SiLU, and its
 * gradient, for channels-last x [n, rows, c] in `groups` groups of c/groups channels:
 *
 *   x̂ = (x − μ_{b,g}) · ρ_{b,g},   ρ = 1/√(σ² + ε)    (biased variance, two passes)
 *   a = x̂ · γ_c + β_c                                  (torch.nn.GroupNorm)
 *   u = a · (1 + s_{b,c}) + t_{b,c}                    (when emb = [s | t] [n, 2c] is given)
 *   y = u · sigmoid(u)  (silu)  or  y = u
 *
 * Each kernel takes the images [image_begin, image_end), so threads can split the
 * batch, and its `work` block starts with the NormGeometry the caller wrote; per-channel
 * scratch follows the header. No C stack, no static data (see gemm.h).
 */
#include "gemm.h"

/* Laid out as the caller writes it: four int32s, then ε as a float32. */
typedef struct {
  int32_t rows, c, groups, silu;
  float eps;
} NormGeometry;

/* Floats of per-channel scratch the kernels need for c channels. */
#define NORM_SCRATCH_ARRAYS 6

EXPORT("group_norm_work_bytes") int32_t group_norm_work_bytes(int32_t c) {
  return WORK_HEADER_BYTES + NORM_SCRATCH_ARRAYS * c * (int32_t)sizeof(float);
}

static inline float *scratch(uint8_t *work) { return (float *)(work + WORK_HEADER_BYTES); }

/*
 * eˣ for four lanes, x clamped to [−87, 88] (so 2ᵏ stays a normal float): x = k·ln2 + r,
 * |r| ≤ ln2/2, with k rounded by the magic-bias trick (adding 1.5·2²³ + 127 leaves k + 127
 * in the low mantissa bits, which shifted into the exponent field are 2ᵏ), Cody-Waite's
 * two-part ln2, and Cephes' expf polynomial for eʳ (~1 ulp).
 */
static inline v128_t exp4(v128_t x) {
  const v128_t magic = wasm_f32x4_splat(12583039.0f); /* 1.5·2²³ + 127 */
  /* pmin/pmax are single instructions; min/max handle NaN and −0 in ~8 (V8 on x64). */
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-87.0f)), wasm_f32x4_splat(88.0f));
  const v128_t biased = MADD(x, wasm_f32x4_splat(1.44269504088896341f), magic);
  const v128_t two_k = wasm_i32x4_shl(biased, 23);
  const v128_t k = wasm_f32x4_sub(biased, magic);
  v128_t r = MADD(k, wasm_f32x4_splat(-0.693359375f), x);
  r = MADD(k, wasm_f32x4_splat(2.12194440e-4f), r);
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = MADD(p, r, wasm_f32x4_splat(1.3981999507e-3f));
  p = MADD(p, r, wasm_f32x4_splat(8.3334519073e-3f));
  p = MADD(p, r, wasm_f32x4_splat(4.1665795894e-2f));
  p = MADD(p, r, wasm_f32x4_splat(1.6666665459e-1f));
  p = MADD(p, r, wasm_f32x4_splat(5.0000001201e-1f));
  const v128_t e = wasm_f32x4_add(MADD(p, wasm_f32x4_mul(r, r), r), wasm_f32x4_splat(1.0f));
  return wasm_f32x4_mul(e, two_k);
}

/* sigmoid(u) = 1 / (1 + e⁻ᵘ). */
static inline v128_t sigmoid4(v128_t u) {
  return wasm_f32x4_div(wasm_f32x4_splat(1.0f), wasm_f32x4_add(wasm_f32x4_splat(1.0f), exp4(wasm_f32x4_neg(u))));
}

/* Scalar lanes (channels past the last multiple of 4) go through the same code. */
static inline float lane0(v128_t v) { return wasm_f32x4_extract_lane(v, 0); }

/* sum[j] = Σ_r (x[r, j] − center[j])² when square, else Σ_r x[r, j]. */
static void channel_sums(const float *restrict x, int32_t rows, int32_t c, const float *restrict center, int32_t square,
                         float *restrict sum) {
  const int32_t c4 = c & ~3;
  for (int32_t j = 0; j < c; j++) sum[j] = 0.0f;
  for (int32_t r = 0; r < rows; r++, x += c) {
    int32_t j = 0;
    for (; j < c4; j += 4) {
      v128_t v = wasm_v128_load(x + j);
      if (square) {
        v = wasm_f32x4_sub(v, wasm_v128_load(center + j));
        v = wasm_f32x4_mul(v, v);
      }
      wasm_v128_store(sum + j, wasm_f32x4_add(wasm_v128_load(sum + j), v));
    }
    for (; j < c; j++) {
      const float v = square ? (x[j] - center[j]) * (x[j] - center[j]) : x[j];
      sum[j] += v;
    }
  }
}

/* Replaces each channel's value by its group's sum of them, times `scale`. */
static void group_totals(float *v, int32_t c, int32_t per_group, float scale) {
  for (int32_t g0 = 0; g0 < c; g0 += per_group) {
    float total = 0.0f;
    for (int32_t j = g0; j < g0 + per_group; j++) total += v[j];
    for (int32_t j = g0; j < g0 + per_group; j++) v[j] = total * scale;
  }
}

/*
 * y [n, rows, c] as above, and stats [n, groups, 2] = (μ, ρ) of every (image, group)
 * for the gradient. emb is 0 or [s | t] [n, 2c].
 */
EXPORT("group_norm")
void group_norm(const float *restrict x, const float *restrict gamma, const float *restrict beta,
                const float *restrict emb, float *restrict y, float *restrict stats, uint8_t *work,
                int32_t image_begin, int32_t image_end) {
  const NormGeometry *g = (const NormGeometry *)work;
  const int32_t rows = g->rows, c = g->c, groups = g->groups, silu = g->silu, per_group = c / groups, c4 = c & ~3;
  const float eps = g->eps;
  const float inv_n = 1.0f / (float)(rows * per_group);
  float *mean = scratch(work), *spread = mean + c, *scale = spread + c, *shift = scale + c;
  for (int32_t b = image_begin; b < image_end; b++) {
    const float *xb = x + b * rows * c;
    float *yb = y + b * rows * c;
    channel_sums(xb, rows, c, 0, 0, mean);
    group_totals(mean, c, per_group, inv_n);
    channel_sums(xb, rows, c, mean, 1, spread);
    group_totals(spread, c, per_group, inv_n);
    for (int32_t j = 0; j < c; j++) {
      const float rho = 1.0f / __builtin_sqrtf(spread[j] + eps);
      const float s = emb ? emb[b * 2 * c + j] : 0.0f, t = emb ? emb[b * 2 * c + c + j] : 0.0f;
      if (j % per_group == 0) {
        stats[(b * groups + j / per_group) * 2] = mean[j];
        stats[(b * groups + j / per_group) * 2 + 1] = rho;
      }
      scale[j] = rho * gamma[j] * (1.0f + s);
      shift[j] = beta[j] * (1.0f + s) + t;
    }
    for (int32_t r = 0; r < rows; r++) {
      const float *xr = xb + r * c;
      float *yr = yb + r * c;
      int32_t j = 0;
      for (; j < c4; j += 4) {
        const v128_t centered = wasm_f32x4_sub(wasm_v128_load(xr + j), wasm_v128_load(mean + j));
        v128_t u = MADD(centered, wasm_v128_load(scale + j), wasm_v128_load(shift + j));
        if (silu) u = wasm_f32x4_mul(u, sigmoid4(u));
        wasm_v128_store(yr + j, u);
      }
      for (; j < c; j++) {
        float u = (xr[j] - mean[j]) * scale[j] + shift[j];
        if (silu) u *= lane0(sigmoid4(wasm_f32x4_splat(u)));
        yr[j] = u;
      }
    }
  }
}

/*
 * The gradient of group_norm for dy [n, rows, c]: with du = ∂y/∂u · dy, the per-channel
 * sums S1 = Σ_r du and S2 = Σ_r du·x̂ go to sums [n, 2c] (the caller makes ∂γ, ∂β, ∂s, ∂t
 * from them), and
 *
 *   dx = ρ · (du·γ(1+s) − mean_g(du·γ(1+s)) − x̂ · mean_g(du·γ(1+s)·x̂)).
 *
 * Two passes: the first writes du into dx and sums S1, S2; the second turns dx into ∂x.
 * stats is group_norm's.
 */
EXPORT("group_norm_backward")
void group_norm_backward(const float *restrict x, const float *restrict dy, const float *restrict gamma,
                         const float *restrict beta, const float *restrict emb, const float *restrict stats,
                         float *restrict dx, float *restrict sums, uint8_t *work, int32_t image_begin,
                         int32_t image_end) {
  const NormGeometry *g = (const NormGeometry *)work;
  const int32_t rows = g->rows, c = g->c, groups = g->groups, silu = g->silu, per_group = c / groups, c4 = c & ~3;
  const float inv_n = 1.0f / (float)(rows * per_group);
  float *mean = scratch(work), *rho = mean + c, *scale = rho + c, *shift = scale + c, *s1 = shift + c, *s2 = s1 + c;
  for (int32_t b = image_begin; b < image_end; b++) {
    const float *xb = x + b * rows * c, *dyb = dy + b * rows * c;
    float *dxb = dx + b * rows * c;
    for (int32_t j = 0; j < c; j++) {
      const float s = emb ? emb[b * 2 * c + j] : 0.0f, t = emb ? emb[b * 2 * c + c + j] : 0.0f;
      const float *stat = stats + (b * groups + j / per_group) * 2;
      mean[j] = stat[0];
      rho[j] = stat[1];
      scale[j] = stat[1] * gamma[j] * (1.0f + s);
      shift[j] = beta[j] * (1.0f + s) + t;
      s1[j] = 0.0f;
      s2[j] = 0.0f;
    }
    for (int32_t r = 0; r < rows; r++) {
      const float *xr = xb + r * c, *dyr = dyb + r * c;
      float *dxr = dxb + r * c;
      int32_t j = 0;
      for (; j < c4; j += 4) {
        const v128_t centered = wasm_f32x4_sub(wasm_v128_load(xr + j), wasm_v128_load(mean + j));
        v128_t du = wasm_v128_load(dyr + j);
        if (silu) {
          // d/du u·σ(u) = σ(u) · (1 + u·(1 − σ(u)))
          const v128_t u = MADD(centered, wasm_v128_load(scale + j), wasm_v128_load(shift + j));
          const v128_t sig = sigmoid4(u);
          const v128_t one = wasm_f32x4_splat(1.0f);
          du = wasm_f32x4_mul(du, wasm_f32x4_mul(sig, MADD(u, wasm_f32x4_sub(one, sig), one)));
        }
        wasm_v128_store(dxr + j, du);
        const v128_t x_hat = wasm_f32x4_mul(centered, wasm_v128_load(rho + j));
        wasm_v128_store(s1 + j, wasm_f32x4_add(wasm_v128_load(s1 + j), du));
        wasm_v128_store(s2 + j, MADD(du, x_hat, wasm_v128_load(s2 + j)));
      }
      for (; j < c; j++) {
        const float centered = xr[j] - mean[j];
        float du = dyr[j];
        if (silu) {
          const float u = centered * scale[j] + shift[j];
          const float sig = lane0(sigmoid4(wasm_f32x4_splat(u)));
          du *= sig * (1.0f + u * (1.0f - sig));
        }
        dxr[j] = du;
        s1[j] += du;
        s2[j] += du * centered * rho[j];
      }
    }
    // S1, S2 out; then m1 = mean_g(du·γ(1+s)) and m2 = mean_g(du·γ(1+s)·x̂) per channel,
    // kept as shift ← ρ·m1 and s2 ← ρ²·m2.
    for (int32_t j = 0; j < c; j++) {
      sums[b * 2 * c + j] = s1[j];
      sums[b * 2 * c + c + j] = s2[j];
      const float gamma_s = gamma[j] * (1.0f + (emb ? emb[b * 2 * c + j] : 0.0f));
      s1[j] *= gamma_s;
      s2[j] *= gamma_s;
    }
    group_totals(s1, c, per_group, inv_n);
    group_totals(s2, c, per_group, inv_n);
    for (int32_t j = 0; j < c; j++) {
      shift[j] = rho[j] * s1[j];
      s2[j] *= rho[j] * rho[j];
    }
    // dx = du·scale − ρ·m1 − (x − μ)·ρ²·m2
    for (int32_t r = 0; r < rows; r++) {
      const float *xr = xb + r * c;
      float *dxr = dxb + r * c;
      int32_t j = 0;
      for (; j < c4; j += 4) {
        const v128_t centered = wasm_f32x4_sub(wasm_v128_load(xr + j), wasm_v128_load(mean + j));
        v128_t d = wasm_f32x4_mul(wasm_v128_load(dxr + j), wasm_v128_load(scale + j));
        d = wasm_f32x4_sub(d, wasm_v128_load(shift + j));
        d = wasm_f32x4_sub(d, wasm_f32x4_mul(centered, wasm_v128_load(s2 + j)));
        wasm_v128_store(dxr + j, d);
      }
      for (; j < c; j++) dxr[j] = dxr[j] * scale[j] - shift[j] - (xr[j] - mean[j]) * s2[j];
    }
  }
}
