#!/usr/bin/env bash
# Builds difflib's wasm kernels from the C sources here: one module per SIMD flavour and heap.
#   relaxed: relaxed SIMD (fused multiply-add via relaxed madd); simd: plain SIMD128.
#   -shared: imports a shared memory (tfjs-backend-wasm's threaded build, whose heap is a
#   SharedArrayBuffer of at most 4 GiB), so worker threads can run the same kernels on it.
# Needs Debian's clang-16 and lld-16. Compiling and linking are separate steps: clang's
# own link step runs binaryen's wasm-opt when it finds one, and binaryen 108 rejects the
# relaxed-SIMD opcodes.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-build}"
mkdir -p "$out"
sources=(gemm.c pack.c conv.c group_norm.c reduce.c winograd.c winograd_filter_grad.c adamw.c)
exports=(gemm_work_bytes batch_matmul conv2d conv2d_backprop_filter conv2d_backprop_input conv2d_backprop_input_extra_bytes group_norm group_norm_backward group_norm_work_bytes sum_rows winograd_work_bytes winograd_filter_floats winograd_filter winograd_conv2d winograd_filter_grad_work_bytes winograd_filter_grad_du_offset winograd_filter_grad winograd_filter_grad_finish adamw)
for flavour in relaxed simd; do
  for heap in plain shared; do
    flags=(--target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -ffreestanding -fno-builtin -mllvm -disable-lsr)
    link=(--no-entry --import-memory --strip-all --gc-sections)
    name="kernels-$flavour"
    if [ "$flavour" = relaxed ]; then flags+=(-mrelaxed-simd -DDIFFLIB_RELAXED_SIMD); fi
    if [ "$heap" = shared ]; then
      flags+=(-matomics)
      link+=(--shared-memory --max-memory=4294967296)
      name+="-shared"
    fi
    objects=()
    for src in "${sources[@]}"; do
      obj="$out/${src%.c}.$name.o"
      clang-16 "${flags[@]}" -c "$src" -o "$obj"
      objects+=("$obj")
    done
    wasm-ld-16 "${link[@]}" $(printf -- '--export=%s ' "${exports[@]}") "${objects[@]}" -o "$out/$name.wasm"
  done
done
