import * as tf from '@tensorflow/tfjs-core';

/**
 * Inputs per AddN: WebGPU binds one storage buffer per input plus one for the output,
 * and devices may allow only 8 per shader stage; tfjs' WebGPU AddN does not split.
 */
const MAX_ADDN_INPUTS = 7;

/**
 * Σ_i tensors[i] (same shapes) as a tree of AddN kernels of at most 7 inputs, so it runs on
 * every backend (one AddN over a model's ~100 gradient norms fails to compile on WebGPU).
 * @internal
 */
export function sumInGroups(tensors: readonly tf.Tensor[]): tf.Tensor {
  let level = [...tensors];
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += MAX_ADDN_INPUTS) {
      const group = level.slice(i, i + MAX_ADDN_INPUTS);
      next.push(group.length === 1 ? group[0]! : tf.addN(group));
    }
    level = next;
  }
  return level[0]!;
}
