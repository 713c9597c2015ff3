/**
 * Worker threads that run difflib's wasm kernels on tfjs-backend-wasm's shared heap
 * (its threaded build), each on its share of a kernel's rows.
 *
 * Each worker owns a control block of CONTROL_INTS int32s in the heap: [0] its state,
 * [1] the export to call, [2] the argument count, [3..] the arguments. The calling
 * thread posts a job (state JOB), runs its own share, then waits for DONE; a worker
 * blocks in Atomics.wait between jobs. No messages are exchanged after start-up, so a
 * job costs two atomic stores and a wake-up.
 */

/** Worker states. */
const STARTING = -1;
const IDLE = 0;
const JOB = 1;
const DONE = 2;
const FAILED = 3;
const CONTROL_INTS = 32;
const MAX_ARGS = CONTROL_INTS - 3;

/** The exports a worker can be asked to run, by index. */
export const THREADED_EXPORTS = ['conv2d', 'conv2d_backprop_filter', 'conv2d_backprop_input', 'batch_matmul', 'group_norm', 'group_norm_backward', 'winograd_conv2d', 'winograd_filter_grad'] as const;
export type ThreadedExport = (typeof THREADED_EXPORTS)[number];

/** A started worker: something to post the start-up message to and to let go of. */
export interface KernelWorker {
  postMessage(message: unknown): void;
  /** Lets the process exit while the worker waits (Node); absent in browsers. */
  unref?(): void;
}

/** Starts a worker running `source` (classic script: Node's `eval` worker, or a blob URL). */
export type KernelWorkerFactory = (source: string) => KernelWorker;

/** Where difflib/node (or an app) puts the Node worker factory: shared by every copy of difflib. */
const FACTORY_KEY = Symbol.for('difflib.wasmKernelWorkerFactory');

/** Sets how worker threads are started where the platform has no `Worker` global (Node). @internal */
export function setKernelWorkerFactory(factory: KernelWorkerFactory): void {
  (globalThis as Record<symbol, unknown>)[FACTORY_KEY] = factory;
}

function workerFactory(): KernelWorkerFactory | undefined {
  const installed = (globalThis as Record<symbol, unknown>)[FACTORY_KEY] as KernelWorkerFactory | undefined;
  if (installed !== undefined) return installed;
  const WorkerClass = (globalThis as { Worker?: new (url: string) => KernelWorker }).Worker;
  if (typeof WorkerClass !== 'function' || typeof Blob !== 'function' || typeof URL?.createObjectURL !== 'function') return undefined;
  return (source) => new WorkerClass(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
}

/** The worker's whole program (a classic script, so that Node and browsers run the same text). */
const WORKER_SOURCE = `'use strict';
const port = typeof self === 'object' && typeof self.postMessage === 'function' ? self : require('node:worker_threads').parentPort;
const listen = (f) => (port.on ? port.on('message', f) : port.addEventListener('message', (e) => f(e.data)));
listen(({ module, memory, control, exportNames }) => {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const calls = exportNames.map((name) => exports[name]);
  const state = new Int32Array(memory.buffer, control, ${CONTROL_INTS});
  Atomics.store(state, 0, ${IDLE});
  Atomics.notify(state, 0);
  for (;;) {
    Atomics.wait(state, 0, ${IDLE});
    if (Atomics.load(state, 0) !== ${JOB}) continue;
    const args = Array.from(state.subarray(3, 3 + state[2]));
    let outcome = ${DONE};
    try {
      calls[state[1]](...args);
    } catch (e) {
      console.error('difflib wasm kernel worker:', e);
      outcome = ${FAILED};
    }
    Atomics.store(state, 0, outcome);
    Atomics.notify(state, 0);
  }
});
`;

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** The workers of one backend; `run` splits a kernel's units between them and the caller. */
export class KernelThreadPool {
  private readonly controls: Int32Array[] = [];
  private readonly blocking = canBlock();

  /**
   * @param memory - the backend's shared heap.
   * @param module - the shared-heap build of the kernels.
   * @param controlPointers - one CONTROL_INTS-int32 block per worker, in the heap.
   */
  private constructor(
    private readonly memory: WebAssembly.Memory,
    module: WebAssembly.Module,
    controlPointers: number[],
    factory: KernelWorkerFactory,
  ) {
    for (const control of controlPointers) {
      const state = new Int32Array(memory.buffer, control, CONTROL_INTS);
      Atomics.store(state, 0, STARTING);
      const worker = factory(WORKER_SOURCE);
      worker.unref?.();
      worker.postMessage({ module, memory, control, exportNames: THREADED_EXPORTS });
      this.controls.push(state);
    }
  }

  /**
   * A pool of `workers` threads, or null where none can start (no Worker, or a heap
   * that is not shared). `allocate` gives heap blocks for the control words.
   */
  static start(memory: WebAssembly.Memory, module: WebAssembly.Module, workers: number, allocate: (bytes: number) => number): KernelThreadPool | null {
    const factory = workerFactory();
    if (workers < 1 || factory === undefined || !(memory.buffer instanceof SharedArrayBuffer)) return null;
    const controls = Array.from({ length: workers }, () => allocate(CONTROL_INTS * 4));
    return new KernelThreadPool(memory, module, controls, factory);
  }

  /** Workers that have started and can take a job now. */
  ready(): number {
    return this.controls.filter((state) => Atomics.load(state, 0) === IDLE).length;
  }

  /**
   * Runs export `name` with `args(share, begin, end)` over [0, units) in contiguous
   * shares whose boundaries are multiples of `grain`: the first share on this thread
   * (through `local`), one on each ready worker, at most `shares` in all.
   */
  run(name: ThreadedExport, local: (...args: number[]) => void, args: (share: number, begin: number, end: number) => number[], units: number, grain: number, shares: number): void {
    const ready = this.controls.filter((state) => Atomics.load(state, 0) === IDLE).slice(0, shares - 1);
    const bounds = split(units, grain, ready.length + 1);
    ready.forEach((state, i) => {
      const callArgs = args(i + 1, bounds[i + 1]!, bounds[i + 2]!);
      if (callArgs.length > MAX_ARGS) throw new Error(`difflib wasm kernels: ${name} takes ${callArgs.length} arguments, a worker at most ${MAX_ARGS}`);
      state[1] = THREADED_EXPORTS.indexOf(name);
      state[2] = callArgs.length;
      state.set(callArgs, 3);
      Atomics.store(state, 0, JOB);
      Atomics.notify(state, 0);
    });
    local(...args(0, bounds[0]!, bounds[1]!));
    let failed = 0;
    for (const state of ready) {
      while (Atomics.load(state, 0) === JOB) {
        if (this.blocking) Atomics.wait(state, 0, JOB);
      }
      if (Atomics.load(state, 0) === FAILED) failed++;
      Atomics.store(state, 0, IDLE);
    }
    if (failed > 0) throw new Error(`difflib's wasm kernel ${name} failed on ${failed} worker thread(s) (their error is on the console)`);
  }
}

/** `parts + 1` boundaries splitting [0, units) into near-equal shares at multiples of `grain`. */
export function split(units: number, grain: number, parts: number): number[] {
  const blocks = Math.ceil(units / grain);
  return Array.from({ length: parts + 1 }, (_, i) => Math.min(units, Math.floor((blocks * i) / parts) * grain));
}
