import type * as tf from '@tensorflow/tfjs-core';
import { RELAXED_SIMD_WASM, SIMD128_WASM } from './binary.generated';

/**
 * Which build of difflib's wasm kernels runs: `'relaxed-simd'` (fused multiply-add
 * through relaxed SIMD's `f32x4.relaxed_madd`), `'simd128'` (multiply then add), or
 * `'off'` (tfjs-backend-wasm's own XNNPACK kernels, with difflib's kernels composed
 * from them where wasm has none).
 */
export type WasmGemmFlavour = 'relaxed-simd' | 'simd128' | 'off';

/** The exports of native/wasm-kernels (see gemm.h there); pointers are byte offsets into tfjs's heap. */
interface KernelExports {
  gemm_work_bytes(): number;
  conv2d_backprop_input_extra_bytes(k: number): number;
  batch_matmul(
    batch: number, m: number, n: number, k: number,
    a: number, strideA: number, transA: number,
    b: number, strideB: number, transB: number,
    bias: number, c: number, work: number,
  ): void;
  conv2d(x: number, w: number, bias: number, y: number, work: number): void;
  conv2d_backprop_filter(x: number, dy: number, dw: number, work: number): void;
  conv2d_backprop_input(dy: number, w: number, dx: number, work: number): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm the kernels use (it exports no such type). */
export interface WasmBackendLike extends tf.KernelBackend {
  wasm: {
    asm?: { memory?: WebAssembly.Memory };
    wasmMemory?: WebAssembly.Memory;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
  };
  getMemoryOffset(dataId: tf.DataId): number;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
}

/** difflib's kernels bound to one wasm backend's heap, with a scratch block grown on demand. */
export interface BoundKernels {
  readonly exports: KernelExports;
  readonly memory: WebAssembly.Memory;
  /** A scratch block of at least `bytes` (whose first 64 bytes the conv kernels read their geometry from). */
  work(bytes: number): number;
}

/** The build in use; undefined until the kernels are first registered. */
let active: WasmGemmFlavour | undefined;
const compiled = new Map<'relaxed-simd' | 'simd128', WebAssembly.Module>();
const bound = new WeakMap<object, { flavour: WasmGemmFlavour; kernels: BoundKernels | null }>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const BASE64 = { 'relaxed-simd': RELAXED_SIMD_WASM, simd128: SIMD128_WASM };
const decoded = new Map<'relaxed-simd' | 'simd128', Uint8Array<ArrayBuffer>>();

function bytesOf(flavour: 'relaxed-simd' | 'simd128'): Uint8Array<ArrayBuffer> {
  let bytes = decoded.get(flavour);
  if (bytes === undefined) {
    bytes = decodeBase64(BASE64[flavour]);
    decoded.set(flavour, bytes);
  }
  return bytes;
}

/**
 * The builds of difflib's wasm kernels this JavaScript engine can run, fastest first:
 * `'relaxed-simd'` where it validates (Chromium; Node 20 only after
 * `enableWasmRelaxedSimd()` from `difflib/node`), `'simd128'` almost everywhere.
 *
 * @example
 * ```ts
 * supportedWasmGemmFlavours(); // ['relaxed-simd', 'simd128'] in Chromium
 * ```
 */
export function supportedWasmGemmFlavours(): Array<'relaxed-simd' | 'simd128'> {
  return (['relaxed-simd', 'simd128'] as const).filter((flavour) => WebAssembly.validate(bytesOf(flavour)));
}

/**
 * Resolves the build to use: `choice` when given ('auto': the fastest supported, 'off'
 * if none), else the one chosen before (the fastest supported the first time). The
 * caller has checked that a named build is supported.
 * @internal
 */
export function selectWasmGemmFlavour(choice?: WasmGemmFlavour | 'auto'): WasmGemmFlavour {
  if (choice === undefined && active !== undefined) return active;
  active = choice === undefined || choice === 'auto' ? (supportedWasmGemmFlavours()[0] ?? 'off') : choice;
  return active;
}

/**
 * The build of difflib's wasm kernels in use: `'relaxed-simd'`, `'simd128'`, or `'off'`
 * (not registered, switched off, or no SIMD in this engine).
 *
 * @example
 * ```ts
 * registerWasmTrainingKernels();
 * console.log(activeWasmGemmFlavour()); // 'simd128' in Node 20, 'relaxed-simd' in Chromium
 * ```
 */
export function activeWasmGemmFlavour(): WasmGemmFlavour {
  return active ?? 'off';
}

function compile(flavour: 'relaxed-simd' | 'simd128'): WebAssembly.Module {
  let module = compiled.get(flavour);
  if (module === undefined) {
    // Synchronous: kernels are synchronous. The module is ~27 kB, well under the size
    // Chromium allows compiling on the main thread.
    module = new WebAssembly.Module(bytesOf(flavour));
    compiled.set(flavour, module);
  }
  return module;
}

/**
 * difflib's kernels bound to `backend`'s heap, or null where they cannot run there:
 * the active build is 'off', or the backend's heap is shared memory (tfjs-backend-wasm's
 * threaded build, whose own kernels then run on its threads).
 * @internal
 */
export function kernelsFor(backend: tf.KernelBackend): BoundKernels | null {
  const flavour = activeWasmGemmFlavour();
  if (flavour === 'off') return null;
  const key = backend as unknown as object;
  const cached = bound.get(key);
  if (cached !== undefined && cached.flavour === flavour) return cached.kernels;
  const kernels = bind(backend as WasmBackendLike, flavour);
  bound.set(key, { flavour, kernels });
  return kernels;
}

function bind(backend: WasmBackendLike, flavour: 'relaxed-simd' | 'simd128'): BoundKernels | null {
  const memory = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  if (memory === undefined || (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer)) {
    return null;
  }
  const exports = new WebAssembly.Instance(compile(flavour), { env: { memory } }).exports as unknown as KernelExports;
  let workPointer = 0;
  let workBytes = 0;
  return {
    exports,
    memory,
    work(bytes) {
      if (bytes > workBytes) {
        if (workPointer !== 0) backend.wasm._free(workPointer);
        workBytes = Math.max(bytes, exports.gemm_work_bytes());
        workPointer = backend.wasm._malloc(workBytes) >>> 0;
      }
      return workPointer;
    },
  };
}
