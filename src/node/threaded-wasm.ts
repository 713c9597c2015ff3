import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { checkInteger } from '../validate';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { DifflibError } from '../errors';
import { setKernelWorkerFactory } from '../backends/wasm-gemm/thread-pool';
import { Worker } from 'node:worker_threads';

const FN = 'registerThreadedWasmBackend';

/** The emscripten build's pre-created worker pool, and the cap tfjs puts on XNNPACK's pool. */
const MAX_THREADS = 8;
/** tfjs-backend-wasm's priority for 'wasm' (so `tf.ready()` picks it as before). */
const WASM_PRIORITY = 2;
const MODULE_JS = 'tfjs-backend-wasm-threaded-simd.js';
const WORKER_JS = 'tfjs-backend-wasm-threaded-simd.worker.js';

/** Options of {@link registerThreadedWasmBackend}. */
export interface ThreadedWasmOptions {
  /**
   * Threads in XNNPACK's pool, the calling thread included: an integer in [1, 8].
   * Default: `os.availableParallelism()`, at most 8.
   */
  threads?: number;
}

/** The emscripten module of the threaded build, as far as this file uses it. */
interface ThreadedModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  PThread: { unusedWorkers: Array<{ unref(): void }>; runningWorkers: Array<{ unref(): void }> };
  tfjs?: Record<string, (...args: number[]) => number>;
}

type ModuleFactory = (config: {
  locateFile(file: string): string;
  mainScriptUrlOrBlob: string;
}) => Promise<ThreadedModule>;

/**
 * Makes tfjs-backend-wasm run multithreaded in Node: registers, under the name
 * `'wasm'`, a backend factory that loads tfjs-backend-wasm's own threaded SIMD build
 * (XNNPACK on a pthreadpool of Node worker threads) instead of its single-threaded one.
 * Convolutions and matrix products then use `threads` cores — difflib's own wasm
 * kernels (see `registerWasmTrainingKernels`) on `threads − 1` worker threads of their
 * own beside the calling thread, on the same shared heap; element-wise kernels stay on one.
 *
 * tfjs-backend-wasm 4.x ships the threaded build but never loads it in Node
 * (tensorflow/tfjs#3830): its feature check answers "no threads" there, it hands the
 * build's worker script to emscripten as a blob URL, which Node's `Worker` cannot
 * load, and the build sizes its pool as half of `os.cpus().length` (one thread on a
 * 2-core machine). This loads the build directly, writes the worker script to a
 * temporary file (removed at exit), and reports `2 × threads` logical CPUs to the build
 * while it starts. The workers are unref'd, so they never keep Node alive, and the
 * process error handlers the build installs are removed (they only rethrow, printing
 * its whole one-line source with every uncaught error).
 *
 * Node only (the browser runs the threaded build itself where the page is
 * cross-origin isolated). Call it after importing `@tensorflow/tfjs-backend-wasm` and
 * before the wasm backend is first used; then `tf.setBackend('wasm')` as usual, and
 * `getThreadsCount()` from tfjs-backend-wasm reports the pool's size. Kernels
 * registered for `'wasm'` (difflib's `registerWasmTrainingKernels` among them) apply
 * unchanged. Numbers match the single-threaded build's to float32 rounding.
 *
 * Imported from `difflib/node`, not `difflib`: it loads Node built-ins and
 * tfjs-backend-wasm, which the backend-agnostic main entry never does.
 *
 * @param options - {@link ThreadedWasmOptions}.
 * @throws DifflibError `INVALID_ARGUMENT` when `threads` is not an integer in [1, 8];
 *   `UNSATISFIABLE` when the wasm backend has already started (its module cannot be
 *   swapped then), or when tfjs-backend-wasm lacks the threaded build's files.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-layers';
 * import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
 * import { registerWasmTrainingKernels } from 'difflib';
 * import { registerThreadedWasmBackend } from 'difflib/node';
 *
 * registerThreadedWasmBackend({ threads: 2 });
 * await tf.setBackend('wasm');
 * registerWasmTrainingKernels();
 * console.log(getThreadsCount()); // 2
 * ```
 */
export function registerThreadedWasmBackend(options: ThreadedWasmOptions = {}): void {
  const threads = options.threads ?? Math.min(MAX_THREADS, os.availableParallelism());
  checkInteger(FN, 'options.threads', threads, { min: 1, max: MAX_THREADS });
  // Not tf.findBackend: that would start the backend it looks up.
  if (tf.engine().registry['wasm'] !== undefined) {
    throw new DifflibError(
      'UNSATISFIABLE',
      FN,
      'options',
      "cannot apply: the wasm backend has already started (call it before the first tf.setBackend('wasm') or tf.ready())",
    );
  }
  const require = createRequire(import.meta.url);
  let moduleDir: string;
  try {
    moduleDir = path.dirname(require.resolve(`@tensorflow/tfjs-backend-wasm/wasm-out/${MODULE_JS}`));
  } catch (e) {
    throw new DifflibError(
      'UNSATISFIABLE',
      FN,
      'options',
      `cannot apply: @tensorflow/tfjs-backend-wasm's threaded build (wasm-out/${MODULE_JS}) was not found (${(e as Error).message.split('\n')[0]})`,
    );
  }
  setThreadsCount(threads);
  // difflib's own wasm kernels run their shares on worker threads of their own (Node has no
  // global Worker; browsers' is used as it is).
  setKernelWorkerFactory((source) => new Worker(source, { eval: true }));
  if (tf.engine().registryFactory['wasm'] !== undefined) tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => startThreadedBackend(require, moduleDir, threads), WASM_PRIORITY);
}

/** Loads the threaded build and wraps it in tfjs-backend-wasm's own BackendWasm. */
async function startThreadedBackend(require: NodeJS.Require, moduleDir: string, threads: number): Promise<BackendWasm> {
  const factory = require(path.join(moduleDir, MODULE_JS)) as ModuleFactory;
  const { wasmWorkerContents } = require(path.join(moduleDir, WORKER_JS)) as { wasmWorkerContents: string };
  const workerFile = writeWorkerScript(wasmWorkerContents);

  const listenersBefore = processErrorListeners();
  // The build computes its pool cap once, at start-up, as os.cpus().length / 2.
  const cpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * threads }, () => cpus()[0]!);
  let module: ThreadedModule;
  try {
    module = await factory({
      locateFile: (file) => (file.endsWith('.worker.js') ? workerFile : path.join(moduleDir, file)),
      // What each worker evaluates to get the module: the build's own script, by path.
      mainScriptUrlOrBlob: path.join(moduleDir, MODULE_JS),
    });
  } finally {
    os.cpus = cpus;
    // emscripten's glue adds handlers that rethrow every uncaught error from inside its
    // one-line source, so Node would print that whole line (~55 kB) with the error;
    // without them Node does the same (print and exit), readably.
    for (const [event, listeners] of Object.entries(processErrorListeners()) as Array<[ProcessErrorEvent, Array<(...args: unknown[]) => void>]>) {
      for (const listener of listeners) if (!listenersBefore[event].includes(listener)) process.removeListener(event, listener);
    }
  }
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  // BackendWasm's constructor creates the pthreadpool (threads − 1 workers start running).
  const backend = new BackendWasm(module as never);
  for (const worker of [...module.PThread.unusedWorkers, ...module.PThread.runningWorkers]) worker.unref();
  return backend;
}

type ProcessErrorEvent = 'uncaughtException' | 'unhandledRejection';

/** The process's current listeners of the two events emscripten's glue listens to. */
function processErrorListeners(): Record<ProcessErrorEvent, Array<(...args: unknown[]) => void>> {
  return {
    uncaughtException: process.listeners('uncaughtException') as Array<(...args: unknown[]) => void>,
    unhandledRejection: process.listeners('unhandledRejection') as Array<(...args: unknown[]) => void>,
  };
}

/**
 * Writes emscripten's worker script to a temporary file (Node's Worker takes a path,
 * not a blob URL) and removes it when the process exits. tfjs keeps the script as a JS
 * string whose `\n` escapes were unescaped by the bundler; re-escaping them restores
 * the original source, as tfjs-backend-wasm does before making its blob.
 */
function writeWorkerScript(contents: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'difflib-wasm-'));
  const file = path.join(dir, 'worker.js');
  writeFileSync(file, contents.replace(/\n/g, '\\n'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return file;
}
