import type * as tf from '@tensorflow/tfjs-core';
import { RELAXED_SIMD_SHARED_WASM, RELAXED_SIMD_WASM, SIMD128_SHARED_WASM, SIMD128_WASM } from './binary.generated';
import { KernelThreadPool, type ThreadedExport } from './thread-pool';

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
    m: number, n: number, k: number,
    a: number, strideA: number, transA: number,
    b: number, strideB: number, transB: number,
    bias: number, c: number, work: number,
    batchBegin: number, batchEnd: number, rowBegin: number, rowEnd: number,
  ): void;
  conv2d(x: number, w: number, bias: number, y: number, work: number, rowBegin: number, rowEnd: number): void;
  conv2d_backprop_filter(x: number, dy: number, dw: number, work: number, rowBegin: number, rowEnd: number): void;
  conv2d_backprop_input(dy: number, w: number, dx: number, work: number, imageBegin: number, imageEnd: number): void;
  group_norm_work_bytes(c: number): number;
  group_norm(x: number, gamma: number, beta: number, emb: number, y: number, stats: number, work: number, imageBegin: number, imageEnd: number): void;
  group_norm_backward(
    x: number, dy: number, gamma: number, beta: number, emb: number, stats: number,
    dx: number, sums: number, work: number, imageBegin: number, imageEnd: number,
  ): void;
  sum_rows(x: number, rows: number, cols: number, out: number): void;
  winograd_work_bytes(c: number, o: number, tileBlock: number): number;
  winograd_filter_floats(c: number, o: number): number;
  winograd_filter(w: number, u: number, cin: number, cout: number, rotated: number): void;
  winograd_conv2d(x: number, u: number, bias: number, y: number, work: number, tileBlock: number, tileBegin: number, tileEnd: number): void;
  winograd_filter_grad_work_bytes(c: number, o: number, tileBlock: number): number;
  winograd_filter_grad_du_offset(c: number, o: number, tileBlock: number): number;
  winograd_filter_grad(x: number, dy: number, work: number, tileBlock: number, tileBegin: number, tileEnd: number): void;
  winograd_filter_grad_finish(work: number, tileBlock: number, dw: number, first: number): void;
  adamw(
    theta: number, g: number, m: number, v: number, thetaOut: number, mOut: number, vOut: number, n: number,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number,
    sqrtBiasCorrection2: number, epsilon: number, stepSize: number, decay: number,
  ): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm the kernels use (it exports no such type). */
export interface WasmBackendLike extends tf.KernelBackend {
  wasm: {
    asm?: { memory?: WebAssembly.Memory };
    wasmMemory?: WebAssembly.Memory;
    tfjs?: { getThreadsCount?(): number };
    _malloc(bytes: number): number;
    _free(pointer: number): void;
  };
  getMemoryOffset(dataId: tf.DataId): number;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
}

/** difflib's kernels bound to one wasm backend's heap, with scratch blocks grown on demand. */
export interface BoundKernels {
  readonly exports: KernelExports;
  readonly memory: WebAssembly.Memory;
  /**
   * Scratch blocks of at least `bytes`, one per thread that may run a share (the calling
   * thread's first); the conv kernels read their geometry from each block's first 64 bytes.
   */
  work(bytes: number): number[];
  /**
   * Runs export `name` with `args(share, begin, end)` over [0, units), split at
   * multiples of `grain` between this thread and the backend's worker threads (enough
   * of them that each share has ~4 MFLOP of the kernel's `flops`), or all here.
   */
  run(name: ThreadedExport, args: (share: number, begin: number, end: number) => number[], units: number, grain: number, flops: number): void;
  /** Threads that can take a share now: this one and the workers that have started. */
  readyThreads(): number;
}

/**
 * Runs `body`, which fills `out` (one output or several); if it throws (a worker thread
 * failed), frees them first, so a failed kernel leaves no backend data behind.
 * @internal
 */
export function fill<T extends tf.TensorInfo | tf.TensorInfo[]>(backend: WasmBackendLike, out: T, body: () => void): T {
  try {
    body();
  } catch (e) {
    for (const info of Array.isArray(out) ? out : [out]) backend.disposeData(info.dataId, true);
    throw e;
  }
  return out;
}

/**
 * FLOPs a share must have before a worker takes one. Below that, handing work to a worker
 * cost more than it saved here: tfjs's own XNNPACK threads keep spinning for a while
 * after their kernels, and on 2 cores a third runnable thread slows every share (tiny's
 * 19-MFLOP convs: 1.7 ms on 2 threads, 0.9 ms on 1; small's 600-MFLOP convs: 13.5 ms on 2,
 * ~25 ms on 1).
 */
const MIN_FLOPS_PER_SHARE = 3e7;

/** A compiled module: the SIMD flavour, and whether it imports a shared heap. */
type Build = 'relaxed-simd' | 'simd128' | 'relaxed-simd-shared' | 'simd128-shared';

/** The build in use; undefined until the kernels are first registered. */
let active: WasmGemmFlavour | undefined;
const compiled = new Map<Build, WebAssembly.Module>();
const bound = new WeakMap<object, { flavour: WasmGemmFlavour; kernels: BoundKernels | null }>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const BASE64: Record<Build, string> = {
  'relaxed-simd': RELAXED_SIMD_WASM,
  simd128: SIMD128_WASM,
  'relaxed-simd-shared': RELAXED_SIMD_SHARED_WASM,
  'simd128-shared': SIMD128_SHARED_WASM,
};
const decoded = new Map<Build, Uint8Array<ArrayBuffer>>();

function bytesOf(build: Build): Uint8Array<ArrayBuffer> {
  let bytes = decoded.get(build);
  if (bytes === undefined) {
    bytes = decodeBase64(BASE64[build]);
    decoded.set(build, bytes);
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

function compile(build: Build): WebAssembly.Module {
  let module = compiled.get(build);
  if (module === undefined) {
    // Synchronous: kernels are synchronous. A build is ~13 kB, well under the size
    // Chromium allows compiling on the main thread.
    module = new WebAssembly.Module(bytesOf(build));
    compiled.set(build, module);
  }
  return module;
}

/**
 * difflib's kernels bound to `backend`'s heap (the shared-heap build on tfjs-backend-wasm's
 * threaded build, with a worker pool of its thread count less one), or null when the
 * active build is 'off' or the backend has no wasm heap.
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
  if (memory === undefined) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const module = compile(shared ? `${flavour}-shared` : flavour);
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const allocate = (bytes: number): number => backend.wasm._malloc(bytes) >>> 0;
  const threads = shared ? (backend.wasm.tfjs?.getThreadsCount?.() ?? 1) : 1;
  const pool = threads > 1 ? KernelThreadPool.start(memory, module, threads - 1, allocate) : null;
  let blocks: number[] = [];
  let blockBytes = 0;
  const kernels: BoundKernels = {
    exports,
    memory,
    work(bytes) {
      if (bytes > blockBytes) {
        blocks.forEach((pointer) => backend.wasm._free(pointer));
        blockBytes = Math.max(bytes, exports.gemm_work_bytes());
        blocks = Array.from({ length: threads }, () => allocate(blockBytes));
      }
      return blocks;
    },
    run(name, args, units, grain, flops) {
      const local = (...callArgs: number[]): void => (kernels.exports[name] as (...a: number[]) => void)(...callArgs);
      const shares = Math.min(threads, Math.floor(flops / MIN_FLOPS_PER_SHARE), Math.ceil(units / grain));
      if (pool === null || shares < 2) {
        local(...args(0, 0, units));
      } else {
        pool.run(name, local, args, units, grain, shares);
      }
    },
    readyThreads: () => 1 + (pool?.ready() ?? 0),
  };
  return kernels;
}
