#!/usr/bin/env bash
# Builds difflib's wasm kernels: one module per SIMD flavour, from the C sources here.
#   relaxed: relaxed SIMD (fused multiply-add via relaxed madd); simd: plain SIMD128.
# Needs Debian's clang-16 and lld-16. Compiling and linking are separate steps: clang's
# own link step runs binaryen's wasm-opt when it finds one, and binaryen 108 rejects the
# relaxed-SIMD opcodes.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-build}"
mkdir -p "$out"
sources=(gemm.c pack.c conv.c)
exports=(gemm_work_bytes batch_matmul conv2d conv2d_backprop_filter conv2d_backprop_input conv2d_backprop_input_extra_bytes)
for flavour in relaxed simd; do
  flags=(--target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -ffreestanding -fno-builtin -mllvm -disable-lsr)
  if [ "$flavour" = relaxed ]; then flags+=(-mrelaxed-simd -DDIFFLIB_RELAXED_SIMD); fi
  objects=()
  for src in "${sources[@]}"; do
    obj="$out/${src%.c}.$flavour.o"
    clang-16 "${flags[@]}" -c "$src" -o "$obj"
    objects+=("$obj")
  done
  wasm-ld-16 --no-entry --import-memory --strip-all --gc-sections \
    $(printf -- '--export=%s ' "${exports[@]}") \
    "${objects[@]}" -o "$out/kernels-$flavour.wasm"
done
