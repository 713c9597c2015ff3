import * as tf from '@tensorflow/tfjs-core';
import { expect, vi } from 'vitest';
import { DifflibError, createUNet, type UNet, type UNetConfig } from '../src/index';

/** Asserts `body` leaves the live tensor count unchanged once its results are disposed. */
export function expectNoLeak(body: () => tf.TensorContainer): void {
  const before = tf.memory().numTensors;
  tf.dispose(body());
  expect(tf.memory().numTensors, 'live tensors after the call').toBe(before);
}

const READ_METHODS = ['dataSync', 'data', 'arraySync', 'array', 'bufferSync', 'buffer'] as const;

/**
 * Counts tensor reads to the host (`dataSync`, `data`, `arraySync`, ...) while `body`
 * runs: on WebGL/WebGPU each is a pipeline stall. (Backend-internal reads by cpu
 * kernels are not readbacks and are not counted.)
 */
export function countReadbacks(body: () => void): number {
  const counter = patchReads();
  try {
    body();
  } finally {
    counter.restore();
  }
  return counter.count();
}

function patchReads(): { count: () => number; restore: () => void } {
  const proto = tf.Tensor.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = READ_METHODS.map((name) => [name, proto[name]!] as const);
  let count = 0;
  for (const [name, original] of originals) {
    proto[name] = function (this: unknown, ...args: unknown[]) {
      count++;
      return original.apply(this, args);
    };
  }
  return { count: () => count, restore: () => originals.forEach(([name, original]) => (proto[name] = original)) };
}

/**
 * Asserts `body` throws a DifflibError whose message starts with `fn: argument`,
 * and that it made no tensor on the way.
 */
export function expectDifflibError(body: () => unknown, fn: string, argument: string, code?: string): DifflibError {
  const before = tf.memory().numTensors;
  let caught: unknown;
  try {
    body();
  } catch (e) {
    caught = e;
  }
  expect(caught, `${fn} should throw`).toBeInstanceOf(DifflibError);
  const err = caught as DifflibError;
  expect(err.message.startsWith(`${fn}: ${argument}`), `message "${err.message}" names ${fn}: ${argument}`).toBe(true);
  expect(err.functionName).toBe(fn);
  expect(err.argument).toBe(argument);
  if (code) expect(err.code).toBe(code);
  expect(tf.memory().numTensors, 'tensors made before the error').toBe(before);
  return err;
}

/** {@link countReadbacks} for an async body (a whole sampling loop). */
export async function countReadbacksAsync(body: () => Promise<void>): Promise<number> {
  const counter = patchReads();
  try {
    await body();
  } finally {
    counter.restore();
  }
  return counter.count();
}

/** Largest |actual − expected| over the largest |expected|. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Deterministic values in [-1, 1) from an LCG, identical bits on every backend. */
export function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Asserts that calling `register` twice more keeps every kernel in `names` registered for
 * `backend` exactly as it was, and warns about nothing (tfjs warns on re-registration).
 */
export function expectIdempotentRegistration(register: () => void, backend: string, names: readonly string[]): void {
  const before = names.map((n) => tf.getKernel(n, backend));
  const warn = vi.spyOn(console, 'warn');
  try {
    register();
    register();
    expect(warn).not.toHaveBeenCalled();
  } finally {
    warn.mockRestore();
  }
  names.forEach((n, i) => expect(tf.getKernel(n, backend), n).toBe(before[i]));
}

/** A small U-Net with attention at 4×4, nearest upsampling and scale-shift norm (in GroupNormalization). */
export const EVERY_LAYER_UNET: UNetConfig = {
  imageSize: 8,
  inChannels: 3,
  modelChannels: 32,
  outChannels: 3,
  numResBlocks: 1,
  attentionResolutions: [2],
  channelMult: [1, 2],
  numHeads: 2,
  useScaleShiftNorm: true,
};

/**
 * {@link EVERY_LAYER_UNET} with seeded random (non-zero) weights, and the tfjs-layers
 * artifacts `unet.model.save` writes for it (the caller disposes the U-Net).
 */
export async function savedEveryLayerUNet(): Promise<{ unet: UNet; artifacts: tf.io.ModelArtifacts }> {
  const unet = createUNet(EVERY_LAYER_UNET);
  unet.model.weights.forEach((w, i) => {
    const value = tf.randomNormal(w.shape as number[], 0, 0.1, 'float32', 100 + i);
    w.write(value);
    value.dispose();
  });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await unet.model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return { unet, artifacts: artifacts! };
}
