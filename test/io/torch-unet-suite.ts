/**
 * A small improved-diffusion U-Net saved by torch.save (fp32 and fp16) against PyTorch's own
 * output on each file's weights (test/fixtures/torch/unet_small.json), loaded with
 * loadTorchStateDict from the .pt bytes. Run on each backend, in Node and in Chromium.
 *
 * Tolerance: scaled error max|a − e| / max|e| ≤ 1e-4, as the reference U-Net parity suite
 * (test/nn/unet-parity-suite.ts): float32 on both sides, sums in another order. The fp16
 * reference is PyTorch's float32 forward on the float16 weights widened back, which is
 * exactly what loadTorchStateDict gives.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { createUNet, loadTorchStateDict } from '../../src/index';
import { channelsLast, values } from '../reference/load';
import { SCALED_TOLERANCE, configOf, scaledError } from '../nn/unet-parity-suite';
import type { TorchUNetCase } from './torch-fixtures';

/** One test per weights file: its parameter count, and the output against PyTorch's. */
export function defineTorchUNetSuite(c: TorchUNetCase, weights: Record<string, Uint8Array>): void {
  for (const [file, bytes] of Object.entries(weights)) {
    it(`loadTorchStateDict(${file}) gives PyTorch's output on those weights within ${SCALED_TOLERANCE} scaled error`, () => {
      const x = channelsLast(c.inputs.x);
      const unet = createUNet(configOf(c.config.constructor_kwargs, x.shape[1]!));
      expect(unet.countParams()).toBe(c.num_parameters);
      const before = tf.memory().numTensors;
      loadTorchStateDict(unet, bytes);
      expect(tf.memory().numTensors, 'tensors left by the load').toBe(before);
      const xt = tf.tensor(Float32Array.from(x.data), x.shape);
      const t = tf.tensor1d(Array.from(values(c.inputs.timesteps)), 'int32');
      const out = unet.forward(xt, t);
      const expected = channelsLast(c.outputs[file]);
      expect(out.shape).toEqual(expected.shape);
      expect(scaledError(out.dataSync(), expected.data)).toBeLessThanOrEqual(SCALED_TOLERANCE);
      tf.dispose([xt, t, out]);
      unet.dispose();
    });
  }
}
