import { createRequire } from 'node:module';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, activeWasmGemmFlavour, registerWasmTrainingKernels } from '../index';
import { enableWasmRelaxedSimd, registerThreadedWasmBackend } from '../node';
import { didYouMean } from './flags/did-you-mean';
import { CliUsageError } from './usage-error';

/** The backends `--backend` takes in Node, in the order `auto` tries them. */
export const NODE_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
type NodeBackend = (typeof NODE_BACKENDS)[number];

const PACKAGES: Record<NodeBackend, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** Checks `--backend` and `--threads` before anything runs. */
export function checkBackendFlags(name: string, threads: number | null): void {
  if (name === 'webgl' || name === 'webgpu') {
    throw new CliUsageError(`argument --backend: ${name} runs in browsers; in Node use tensorflow (@tensorflow/tfjs-node), wasm or cpu`);
  }
  if (name !== 'auto' && !(NODE_BACKENDS as readonly string[]).includes(name)) {
    const close = didYouMean(name, ['auto', ...NODE_BACKENDS]);
    throw new CliUsageError(`argument --backend: must be auto, ${NODE_BACKENDS.join(', ')}, got '${name}'${close.length ? `; did you mean ${close[0]}?` : ''}`);
  }
  if (threads !== null && !(threads >= 1 && threads <= 8)) throw new CliUsageError(`argument --threads: must be an integer in [1, 8], got ${threads}`);
}

/** Imports a backend package; false when it is not installed. */
async function tryImport(specifier: string): Promise<boolean> {
  try {
    createRequire(import.meta.url).resolve(specifier);
  } catch {
    return false;
  }
  // A variable specifier: these are optional packages, resolved when the CLI runs.
  await import(/* @vite-ignore */ specifier);
  return true;
}

/**
 * Starts the backend `--backend` names: `tensorflow` (@tensorflow/tfjs-node, native
 * TensorFlow), `wasm` (threaded, `--threads`), `cpu`, or `auto`, the first of these
 * whose package is installed.
 *
 * @param command - for messages.
 * @param name - `--backend`.
 * @param threads - `--threads`, or null for the cores (at most 8).
 * @returns the backend's name and, for wasm, its threads.
 * @throws DifflibError when the backend's package is not installed or does not start.
 */
export async function startBackend(command: string, name: string, threads: number | null): Promise<string> {
  for (const candidate of name === 'auto' ? NODE_BACKENDS : [name as NodeBackend]) {
    if (!(await tryImport(PACKAGES[candidate]))) {
      if (name === 'auto') continue;
      throw new DifflibError(
        'UNSATISFIABLE',
        command,
        '--backend',
        `${candidate} needs ${PACKAGES[candidate]}, which is not installed (npm install ${PACKAGES[candidate]}), or choose another: --backend ${NODE_BACKENDS.filter((b) => b !== candidate).join(' | ')}`,
      );
    }
    const poolSize = threads ?? Math.min(8, os.availableParallelism());
    // Once per process: the threaded build cannot replace a wasm backend that has started.
    if (candidate === 'wasm' && poolSize > 1 && tf.engine().registry['wasm'] === undefined) registerThreadedWasmBackend({ threads: poolSize });
    if (!(await tf.setBackend(candidate))) throw new DifflibError('UNSATISFIABLE', command, '--backend', `${candidate} did not start`);
    await tf.ready();
    if (candidate !== 'wasm') return candidate;
    // difflib's wasm kernels at their fastest: relaxed SIMD's fused multiply-add (Node 20 needs the V8 flag).
    enableWasmRelaxedSimd();
    registerWasmTrainingKernels({ gemm: 'auto' });
    return `wasm (${poolSize} thread${poolSize === 1 ? '' : 's'}, difflib's ${activeWasmGemmFlavour()} kernels)`;
  }
  throw new DifflibError('UNSATISFIABLE', command, '--backend', `auto found none of ${Object.values(PACKAGES).join(', ')} installed`);
}
