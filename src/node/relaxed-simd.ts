import v8 from 'node:v8';
import { supportedWasmGemmFlavours } from '../backends/wasm-gemm/module';

/**
 * Lets Node 20 run WebAssembly relaxed SIMD (V8's `--experimental-wasm-relaxed-simd`;
 * Node 22+ and Chromium have it on already), so that difflib's wasm kernels can use
 * their fused multiply-add build (~1.5–2× the SIMD128 build's FLOP rate on x86 with FMA).
 *
 * Call it before the kernels are first registered (`createUNet` and
 * `registerWasmTrainingKernels()` register them), or call
 * `registerWasmTrainingKernels({ gemm: 'auto' })` again afterwards: the build is chosen
 * at registration. Setting a V8 flag at run time is what the flag is for here, but it
 * applies to the whole process.
 *
 * @returns whether relaxed SIMD now validates (false on an engine that lacks it).
 *
 * @example
 * ```ts
 * import { enableWasmRelaxedSimd } from 'difflib/node';
 * import { registerWasmTrainingKernels, activeWasmGemmFlavour } from 'difflib';
 *
 * enableWasmRelaxedSimd();
 * registerWasmTrainingKernels();
 * console.log(activeWasmGemmFlavour()); // 'relaxed-simd'
 * ```
 */
export function enableWasmRelaxedSimd(): boolean {
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return supportedWasmGemmFlavours().includes('relaxed-simd');
}
