/*
 * difflib's wasm kernels: a packed-panel SGEMM (GotoBLAS/BLIS blocking) whose left
 * operand may be a plain matrix or an im2col view of an NHWC image, so that conv2d and
 * its two gradients are GEMMs that never materialise the im2col matrix.
 *
 * Every pointer is a byte offset into the memory tfjs-backend-wasm owns (this module
 * imports it): tensors are read and written in place, and scratch comes from the
 * caller's `work` block. Nothing here uses the C stack or static data, so the module
 * needs no memory of its own.
 */
#ifndef DIFFLIB_GEMM_H
#define DIFFLIB_GEMM_H

#include <stdint.h>
#include <wasm_simd128.h>

/* Register tile of the micro-kernel: MR rows × NR columns of C. */
#define MR 4
#define NR 8
/* Cache blocks: KC of the shared dimension, MC rows of A, NC columns of B. */
#define KC 256
#define MC 96
#define NC 1024

/* The start of every `work` block: the conv geometry the caller writes (bytes 0-63),
 * then the operand descriptors of the running GEMM (64-127), kept there and not on a C
 * stack, which this module does not have. Scratch floats follow. */
#define WORK_OPERANDS_OFFSET 64
#define WORK_HEADER_BYTES 128

/* Floats of scratch one GEMM needs: packed A block, packed B block, one edge tile. */
#define GEMM_WORK_FLOATS (MC * KC + KC * NC + MR * NR)

/* c + a·b for four lanes: fused where relaxed SIMD's madd is (-mrelaxed-simd). */
#ifdef DIFFLIB_RELAXED_SIMD
#define MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4((a), (b), (c))
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul((a), (b)), (c))
#endif

#define EXPORT(name) __attribute__((export_name(name)))

/*
 * conv2d geometry, NHWC input [n, h, w, c], HWIO filter [kh, kw, c, o], output
 * [n, oh, ow, o]; input pixel of output (oy, ox) and tap (ky, kx) is
 * (oy·sh − pt + ky·dh, ox·sw − pl + kx·dw), zero outside the image.
 * Laid out as the int32 array the JS side writes (same order).
 */
typedef struct {
  int32_t n, h, w, c;
  int32_t oh, ow, o;
  int32_t kh, kw;
  int32_t sh, sw, dh, dw;
  int32_t pt, pl;
} ConvGeometry;

/* What a GEMM operand is: op(X) as a logical [rows, cols] matrix. */
enum OperandKind {
  /* rows × cols at p, leading dimension ld; trans: stored transposed (cols × rows). */
  OPERAND_PLAIN = 0,
  /* The im2col matrix X̃ [n·oh·ow, kh·kw·c] of the image at p. */
  OPERAND_IM2COL = 1,
  /* X̃ᵀ [kh·kw·c, n·oh·ow]. */
  OPERAND_IM2COL_T = 2,
};

typedef struct {
  int32_t kind;
  const float *p;
  int32_t ld;
  int32_t trans;
  const ConvGeometry *g;
} Operand;

/*
 * Rows [row_begin, row_end) of C[m, n] (+)= Σ_k op(A)[m, k] · op(B)[k, n], C row-major
 * with leading dimension ldc (row indices are absolute: a thread computes its share of
 * the rows and writes no other). accumulate = 0 overwrites C; 1 adds to it. B must be
 * OPERAND_PLAIN.
 */
void gemm(int32_t row_begin, int32_t row_end, int32_t n, int32_t k, const Operand *a, const Operand *b, float *c,
          int32_t ldc, int32_t accumulate, float *work);

/* The MR×NR micro-kernel on packed panels a [kc][MR] and b [kc][NR]: c (ld ldc) = a·b, or += with accumulate. */
void gemm_micro_tile(int32_t kc, const float *a, const float *b, float *c, int32_t ldc, int32_t accumulate);

/* Packers (pack.c): op(A) rows [i0, i0+mc) × depth [p0, p0+kc) into MR-row panels
 * [kc][MR]; op(B) depth [p0, p0+kc) × columns [j0, j0+nc) into NR-column panels [kc][NR].
 * Rows and columns past the matrix are zero. */
void pack_a(const Operand *a, int32_t rows, int32_t i0, int32_t mc, int32_t p0, int32_t kc, float *out);
void pack_b(const Operand *b, int32_t cols, int32_t p0, int32_t kc, int32_t j0, int32_t nc, float *out);

#endif
