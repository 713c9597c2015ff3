/* The SGEMM driver and its MR×NR micro-kernel (see gemm.h). */
#include "gemm.h"

static inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

/*
 * The MR×NR tile t = Σ_k a[k][0..MR) ⊗ b[k][0..NR) over kc packed steps, in eight
 * f32x4 accumulators, written to c (leading dimension ldc), added to it if accumulate.
 */
static inline void micro_kernel(int32_t kc, const float *a, const float *b, float *c, int32_t ldc, int32_t accumulate) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int32_t k = 0; k < kc; k++) {
    const v128_t b0 = wasm_v128_load(b);
    const v128_t b1 = wasm_v128_load(b + 4);
    const v128_t a0 = wasm_v128_load32_splat(a);
    const v128_t a1 = wasm_v128_load32_splat(a + 1);
    const v128_t a2 = wasm_v128_load32_splat(a + 2);
    const v128_t a3 = wasm_v128_load32_splat(a + 3);
    c00 = MADD(a0, b0, c00);
    c01 = MADD(a0, b1, c01);
    c10 = MADD(a1, b0, c10);
    c11 = MADD(a1, b1, c11);
    c20 = MADD(a2, b0, c20);
    c21 = MADD(a2, b1, c21);
    c30 = MADD(a3, b0, c30);
    c31 = MADD(a3, b1, c31);
    a += MR;
    b += NR;
  }
  float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc;
  if (accumulate) {
    c00 = wasm_f32x4_add(c00, wasm_v128_load(r0));
    c01 = wasm_f32x4_add(c01, wasm_v128_load(r0 + 4));
    c10 = wasm_f32x4_add(c10, wasm_v128_load(r1));
    c11 = wasm_f32x4_add(c11, wasm_v128_load(r1 + 4));
    c20 = wasm_f32x4_add(c20, wasm_v128_load(r2));
    c21 = wasm_f32x4_add(c21, wasm_v128_load(r2 + 4));
    c30 = wasm_f32x4_add(c30, wasm_v128_load(r3));
    c31 = wasm_f32x4_add(c31, wasm_v128_load(r3 + 4));
  }
  wasm_v128_store(r0, c00);
  wasm_v128_store(r0 + 4, c01);
  wasm_v128_store(r1, c10);
  wasm_v128_store(r1 + 4, c11);
  wasm_v128_store(r2, c20);
  wasm_v128_store(r2 + 4, c21);
  wasm_v128_store(r3, c30);
  wasm_v128_store(r3 + 4, c31);
}

/* A tile cut by the matrix edge: computed whole into `tile`, its mr×nr corner stored. */
static void edge_tile(int32_t kc, const float *a, const float *b, float *c, int32_t ldc, int32_t mr, int32_t nr,
                      int32_t accumulate, float *tile) {
  micro_kernel(kc, a, b, tile, NR, 0);
  for (int32_t i = 0; i < mr; i++) {
    for (int32_t j = 0; j < nr; j++) {
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
    }
  }
}

void gemm(int32_t row_begin, int32_t row_end, int32_t n, int32_t k, const Operand *a, const Operand *b, float *c,
          int32_t ldc, int32_t accumulate, float *work) {
  float *packed_a = work;
  float *packed_b = work + MC * KC;
  float *tile = packed_b + KC * NC;
  if (k == 0) {
    if (!accumulate) {
      for (int32_t i = row_begin; i < row_end; i++) {
        for (int32_t j = 0; j < n; j++) c[i * ldc + j] = 0.0f;
      }
    }
    return;
  }
  for (int32_t jc = 0; jc < n; jc += NC) {
    const int32_t nc = min32(NC, n - jc);
    for (int32_t pc = 0; pc < k; pc += KC) {
      const int32_t kc = min32(KC, k - pc);
      const int32_t add = accumulate || pc > 0;
      pack_b(b, n, pc, kc, jc, nc, packed_b);
      for (int32_t ic = row_begin; ic < row_end; ic += MC) {
        const int32_t mc = min32(MC, row_end - ic);
        pack_a(a, row_end, ic, mc, pc, kc, packed_a);
        for (int32_t jr = 0; jr < nc; jr += NR) {
          const int32_t nr = min32(NR, nc - jr);
          const float *bp = packed_b + jr * kc;
          for (int32_t ir = 0; ir < mc; ir += MR) {
            const int32_t mr = min32(MR, mc - ir);
            const float *ap = packed_a + ir * kc;
            float *cp = c + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR) {
              micro_kernel(kc, ap, bp, cp, ldc, add);
            } else {
              edge_tile(kc, ap, bp, cp, ldc, mr, nr, add, tile);
            }
          }
        }
      }
    }
  }
}

/* The micro-kernel for callers that pack their own panels (winograd.c): C tile (+)= A panel · B panel. */
void gemm_micro_tile(int32_t kc, const float *a, const float *b, float *c, int32_t ldc, int32_t accumulate) {
  micro_kernel(kc, a, b, c, ldc, accumulate);
}

/* Scratch bytes any exported kernel needs in its `work` block, besides what conv.c adds. */
EXPORT("gemm_work_bytes") int32_t gemm_work_bytes(void) { return WORK_HEADER_BYTES + GEMM_WORK_FLOATS * (int32_t)sizeof(float); }

/*
 * Batched C[i] = op(A[i])·op(B[i]) (+ bias) for plain row-major matrices: A[i] at
 * a + i·stride_a ([m, k], or [k, m] if trans_a), B[i] likewise ([k, n] or [n, k]),
 * C[i] [m, n] at c + i·m·n, bias [n] added to every row when bias is not 0. Strides
 * are in floats; a stride of 0 broadcasts that operand. This call computes products
 * [batch_begin, batch_end), rows [row_begin, row_end) of each (a thread's share).
 */
EXPORT("batch_matmul")
void batch_matmul(int32_t m, int32_t n, int32_t k, const float *a, int32_t stride_a, int32_t trans_a, const float *b,
                  int32_t stride_b, int32_t trans_b, const float *bias, float *c, uint8_t *work, int32_t batch_begin,
                  int32_t batch_end, int32_t row_begin, int32_t row_end) {
  Operand *op = (Operand *)(work + WORK_OPERANDS_OFFSET);
  for (int32_t i = batch_begin; i < batch_end; i++) {
    float *ci = c + i * m * n;
    if (bias) {
      for (int32_t r = row_begin; r < row_end; r++) {
        for (int32_t j = 0; j < n; j++) ci[r * n + j] = bias[j];
      }
    }
    op[0] = (Operand){OPERAND_PLAIN, a + i * stride_a, trans_a ? m : k, trans_a, 0};
    op[1] = (Operand){OPERAND_PLAIN, b + i * stride_b, trans_b ? k : n, trans_b, 0};
    gemm(row_begin, row_end, n, k, &op[0], &op[1], ci, n, bias != 0, (float *)(work + WORK_HEADER_BYTES));
  }
}
