/**
 * The U-Net against openai/improved-diffusion and guided-diffusion on their own
 * random weights: output, parameter count, and every block's output (where a
 * mismatch would start). Run on each backend.
 *
 * Tolerance: scaled error max|a − e| / max|e| ≤ 1e-4. The network is float32 on
 * both sides, but convolutions and matMuls sum hundreds of products in another
 * order, GroupNorm's variance is computed differently, and GPU exp/log are not
 * correctly rounded. Measured: ~2e-6 on cpu, wasm and webgl (SwiftShader); the
 * project's bar is 1e-3, so 1e-4 still catches a wrong ε or head layout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createUNet, loadTorchStateDict, type UNetConfig } from '../../src/index';
import { channelsLast, values, type RefValue } from '../reference/load';

export interface UNetCase {
  tag: string;
  case: Record<string, RefValue>;
  weights: Uint8Array;
}

export const SCALED_TOLERANCE = 1e-4;

/** UNetModel's kwargs camelCased; improved-diffusion's has no image_size, so it comes from x. */
export function configOf(kwargs: Record<string, RefValue>, imageSize: number): UNetConfig {
  const camel = Object.fromEntries(
    Object.entries(kwargs).map(([k, v]) => [k.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase()), v]),
  );
  return { imageSize, ...camel } as unknown as UNetConfig;
}

/** max|a − e| / max|e|. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxDiff / maxRef;
}

export function defineUNetParitySuite(cases: UNetCase[]): void {
  for (const { tag, case: c, weights } of cases) {
    describe(`U-Net "${tag}"`, () => {
      const xShape = channelsLast((c.inputs as Record<string, RefValue>).x).shape;
      const config = configOf((c.config as Record<string, RefValue>).constructor_kwargs as Record<string, RefValue>, xShape[1]!);

      it('has the reference parameter count', () => {
        const unet = createUNet(config);
        expect(unet.countParams()).toBe(c.num_parameters);
        unet.dispose();
      });

      it(`matches the reference output and every block's output within ${SCALED_TOLERANCE} scaled error`, () => {
        const unet = createUNet(config);
        loadTorchStateDict(unet, weights);
        const inputs = c.inputs as Record<string, RefValue>;
        const x = tf.tensor(Float32Array.from(channelsLast(inputs.x).data), channelsLast(inputs.x).shape);
        const t = tf.tensor1d(Array.from(values(inputs.timesteps)), 'int32');
        const before = tf.memory().numTensors;
        const got = unet.intermediates(x, t);
        const expected: Record<string, RefValue> = {
          ...(c.intermediates as Record<string, RefValue>),
          output: (c.outputs as Record<string, RefValue>).output!,
        };
        const errors: string[] = [];
        for (const [name, ref] of Object.entries(expected)) {
          const e = channelsLast(ref);
          expect(got[name]?.shape, name).toEqual(e.shape);
          const err = scaledError(got[name]!.dataSync(), e.data);
          if (!(err <= SCALED_TOLERANCE)) errors.push(`${name}: ${err.toExponential(2)}`);
        }
        expect(errors, 'blocks over tolerance, in order').toEqual([]);
        // forward gives the same output as the probe, and leaks nothing.
        const out = unet.forward(x, t);
        expect(scaledError(out.dataSync(), got.output!.dataSync())).toBe(0);
        tf.dispose([out, ...Object.values(got)]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, t]);
        unet.dispose();
      });
    });
  }
}
