/*
 * One AdamW update of a variable (src/train/adamw.ts), in one pass over its n values:
 *
 *   m' = β₁·m + (1 − β₁)·g,   v' = β₂·v + (1 − β₂)·g²,
 *   θ' = θ·decay − (m' / (√v' / √(1 − β₂ᵗ) + ε)) · η/(1 − β₁ᵗ),
 *
 * each operation rounded to float32 in the order the composed tfjs ops round it (no fused
 * multiply-add), so the result is the composition's to the bit. The scalars arrive as
 * float32, as tfjs turns them into float32 scalar tensors. `decay` 1 skips its multiply.
 */
#include "gemm.h"

EXPORT("adamw")
void adamw(const float *restrict theta, const float *restrict g, const float *restrict m, const float *restrict v,
           float *restrict theta_out, float *restrict m_out, float *restrict v_out, int32_t n, float beta1,
           float one_minus_beta1, float beta2, float one_minus_beta2, float sqrt_bias_correction2, float epsilon,
           float step_size, float decay) {
  const int32_t n4 = n & ~3;
  const v128_t b1 = wasm_f32x4_splat(beta1), c1 = wasm_f32x4_splat(one_minus_beta1);
  const v128_t b2 = wasm_f32x4_splat(beta2), c2 = wasm_f32x4_splat(one_minus_beta2);
  const v128_t bc2 = wasm_f32x4_splat(sqrt_bias_correction2), eps = wasm_f32x4_splat(epsilon);
  const v128_t lr = wasm_f32x4_splat(step_size), dec = wasm_f32x4_splat(decay);
  int32_t i = 0;
  for (; i < n4; i += 4) {
    const v128_t gi = wasm_v128_load(g + i);
    const v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gi, c1));
    const v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), c2));
    const v128_t denominator = wasm_f32x4_add(wasm_f32x4_div(wasm_f32x4_sqrt(vi), bc2), eps);
    v128_t ti = wasm_v128_load(theta + i);
    if (decay != 1.0f) ti = wasm_f32x4_mul(ti, dec);
    wasm_v128_store(theta_out + i, wasm_f32x4_sub(ti, wasm_f32x4_mul(wasm_f32x4_div(mi, denominator), lr)));
    wasm_v128_store(m_out + i, mi);
    wasm_v128_store(v_out + i, vi);
  }
  for (; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * beta1 + gi * one_minus_beta1;
    const float vi = v[i] * beta2 + (gi * gi) * one_minus_beta2;
    const float denominator = __builtin_sqrtf(vi) / sqrt_bias_correction2 + epsilon;
    const float ti = decay != 1.0f ? theta[i] * decay : theta[i];
    theta_out[i] = ti - (mi / denominator) * step_size;
    m_out[i] = mi;
    v_out[i] = vi;
  }
}
