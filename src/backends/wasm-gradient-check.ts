import * as tf from '@tensorflow/tfjs-core';
import { DifflibError } from '../errors';

const CONV2D_GRADIENT = [tf.Conv2DBackpropFilter];
const DEPTHWISE_GRADIENT = [tf.DepthwiseConv2dNativeBackpropFilter, tf.DepthwiseConv2dNativeBackpropInput];

/**
 * Operations on the tape whose gradient, on tfjs-backend-wasm 4.22, calls a kernel that
 * backend lacks (the ones `registerWasmTrainingKernels` adds). Fused ops (tfjs-layers'
 * convolutions with a bias or an activation) are recorded under their op's name, as
 * custom gradients.
 */
const GRADIENT_KERNELS: Readonly<Record<string, readonly string[]>> = {
  [tf.Conv2D]: CONV2D_GRADIENT,
  [tf.FusedConv2D]: CONV2D_GRADIENT,
  fusedConv2d__op: CONV2D_GRADIENT,
  [tf.DepthwiseConv2dNative]: DEPTHWISE_GRADIENT,
  [tf.FusedDepthwiseConv2D]: DEPTHWISE_GRADIENT,
  fusedDepthwiseConv2d__op: DEPTHWISE_GRADIENT,
  [tf.GatherV2]: [tf.UnsortedSegmentSum],
};

/**
 * How many operations the active gradient tape holds (`-1` when no gradient is being
 * recorded): pass it to {@link checkWasmGradientKernels} after running a model.
 * @internal
 */
export function gradientTapeLength(): number {
  return tf.engine().state.activeTape?.length ?? -1;
}

/**
 * Throws where gradients are being recorded on the wasm backend and an operation since
 * `tapeStart` (a {@link gradientTapeLength}) will need, in the backward pass, a kernel
 * tfjs-backend-wasm does not have: the DifflibError names the operation, the kernel and
 * the fix, `registerWasmTrainingKernels()`, where tfjs would later throw a bare
 * "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'" from inside the
 * optimizer. Reads only the tape's kernel names: no readback, nothing allocated.
 *
 * tfjs keeps a copy of each tensor a gradient will need on the tape's nodes and frees
 * them only after the backward pass; an error thrown while recording skips that, so the
 * refusal frees them itself (the recording it aborts can never be used).
 * @internal
 */
export function checkWasmGradientKernels(fn: string, argument: string, tapeStart: number): void {
  if (tapeStart < 0 || tf.getBackend() !== 'wasm') return;
  const tape = tf.engine().state.activeTape ?? [];
  for (let i = tapeStart; i < tape.length; i++) {
    const op = tape[i]!.kernelName;
    const missing = GRADIENT_KERNELS[op]?.find((kernel) => tf.getKernel(kernel, 'wasm') === undefined);
    if (missing !== undefined) {
      releaseSavedTensors(tape);
      throw new DifflibError(
        'UNSATISFIABLE',
        fn,
        argument,
        `runs ${op}, whose gradient on the wasm backend needs the ${missing} kernel, which tfjs-backend-wasm lacks: ` +
          "call registerWasmTrainingKernels() (from 'difflib') once before training on wasm",
      );
    }
  }
}

/** Frees the tensors the tape's nodes saved for the backward pass (tfjs' own clones). */
function releaseSavedTensors(tape: ReturnType<typeof tf.engine>['state']['activeTape']): void {
  for (const node of tape) {
    node.saved?.forEach((t) => t.dispose());
    node.saved = [];
  }
}
