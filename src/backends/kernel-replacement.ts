import * as tf from '@tensorflow/tfjs-core';

/**
 * Tags difflib's kernelFuncs, through a global symbol so that a second copy of difflib
 * (an ESM and a CJS build in one app) recognises, and can undo, the first copy's kernels.
 * The tag carries the backend's kernel a replacement displaced.
 */
const DIFFLIB_KERNEL = Symbol.for('difflib.trainingKernel');

interface KernelTag {
  displaced?: tf.KernelConfig;
}

type TaggedKernelFunc = tf.KernelFunc & { [DIFFLIB_KERNEL]?: KernelTag };

function tagged(kernelFunc: tf.KernelFunc, tag: KernelTag = {}): tf.KernelFunc {
  const wrapper: TaggedKernelFunc = (args) => kernelFunc(args);
  wrapper[DIFFLIB_KERNEL] = tag;
  return wrapper;
}

function tagOf(config: tf.KernelConfig | undefined): KernelTag | undefined {
  return config === undefined ? undefined : (config.kernelFunc as TaggedKernelFunc)[DIFFLIB_KERNEL];
}

/** Registers `kernelFunc` where `backendName` has no kernel of that name (a future release that adds one keeps its own). @internal */
export function addMissingKernel(backendName: string, kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, backendName) === undefined) {
    tf.registerKernel({ kernelName, backendName, kernelFunc: tagged(kernelFunc) });
  }
}

/**
 * Replaces the backend's own kernel with `make(current)`, keeping its setupFunc and
 * disposeFunc (wasm binds its C++ entry points in setupFunc when the backend starts;
 * fallbacks and a later restore rely on them). Skips a kernel that is absent or already
 * difflib's. @internal
 */
export function replaceKernel(backendName: string, kernelName: string, make: (current: tf.KernelConfig) => tf.KernelFunc): void {
  const current = tf.getKernel(kernelName, backendName);
  if (current === undefined || tagOf(current) !== undefined) return;
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({
    kernelName,
    backendName,
    kernelFunc: tagged(make(current), { displaced: current }),
    setupFunc: current.setupFunc,
    disposeFunc: current.disposeFunc,
  });
}

/** Undoes {@link addMissingKernel} / {@link replaceKernel} for one kernel; leaves anyone else's alone. @internal */
export function restoreKernel(backendName: string, kernelName: string): void {
  const tag = tagOf(tf.getKernel(kernelName, backendName));
  if (tag === undefined) return;
  tf.unregisterKernel(kernelName, backendName);
  if (tag.displaced !== undefined) tf.registerKernel(tag.displaced);
}
