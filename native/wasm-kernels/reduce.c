/*
 * Sums over the leading axes: x viewed as [rows, cols] → out [cols], out[j] = Σ_i x[i, j],
 * added row by row in order (the order tfjs's own Sum adds them after its transpose).
 * What tfjs-backend-wasm's Sum transposes x for first: the bias gradient of every conv
 * and dense layer.
 */
#include "gemm.h"

EXPORT("sum_rows")
void sum_rows(const float *restrict x, int32_t rows, int32_t cols, float *restrict out) {
  const int32_t cols4 = cols & ~3;
  for (int32_t j = 0; j < cols; j++) out[j] = 0.0f;
  for (int32_t i = 0; i < rows; i++, x += cols) {
    int32_t j = 0;
    for (; j < cols4; j += 4) wasm_v128_store(out + j, wasm_f32x4_add(wasm_v128_load(out + j), wasm_v128_load(x + j)));
    for (; j < cols; j++) out[j] += x[j];
  }
}
