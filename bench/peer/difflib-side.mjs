// difflib's side of the PyTorch comparison: the U-Net on tfjs-backend-wasm, random
// weights every layer contributes to, a fixed input, and the timed forward pass and
// train step (the same work torch_bench.py times).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { AdamW, GaussianDiffusion, NoiseSchedule, activeWasmGemmFlavour, createUNet, registerWasmTrainingKernels } from 'difflib';
import { enableWasmRelaxedSimd, registerThreadedWasmBackend } from 'difflib/node';
import { timeRepeats } from '../stats.mjs';

/** AdamW's η in both train steps (improved-diffusion's default); no weight decay. */
export const LEARNING_RATE = 1e-4;

/**
 * Selects tfjs-backend-wasm and its training kernels.
 * @param {number} threads - 1: tfjs-backend-wasm's own single-threaded build; more: its
 *   threaded build on that many threads (difflib/node's registerThreadedWasmBackend).
 * @param {'auto' | 'relaxed-simd' | 'simd128' | 'off'} [gemm] - which build of difflib's own
 *   wasm kernels runs the convs and products (`registerWasmTrainingKernels`'s `gemm`).
 * @returns {Promise<string>} a description of the backend.
 */
export async function useWasm(threads, gemm = 'auto') {
  if (threads > 1) registerThreadedWasmBackend({ threads });
  await tf.setBackend('wasm');
  await tf.ready();
  // difflib's own kernels at their fastest: relaxed SIMD's fused multiply-add (Node 20 needs the flag).
  enableWasmRelaxedSimd();
  registerWasmTrainingKernels({ gemm });
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const flavour = activeWasmGemmFlavour();
  const kernels = flavour === 'off' ? "tfjs-backend-wasm's XNNPACK" : `difflib's own (${flavour})`;
  return `tfjs ${tf.version_core} wasm (${simd ? 'SIMD' : 'no SIMD'}, ${getThreadsCount()} thread${getThreadsCount() === 1 ? '' : 's'}; conv/matmul kernels: ${kernels})`;
}

/** Bytes of the wasm backend's heap now (it grows on demand up to the module's maximum). */
export function wasmHeapBytes() {
  return tf.backend().wasm.HEAPU8.byteLength;
}

/**
 * createUNet(config) with every weight replaced by seeded uniform values, so that the
 * layers the reference zero-initialises (out convs, proj_out) and the GroupNorm affine
 * terms all shape the output: kernels U(±1/√fanIn), rank-1 weights (biases, γ, β) their
 * initial value + U(±0.1).
 * @param {object} config - createUNet's config.
 * @param {number} seed
 */
export function randomUNet(config, seed) {
  const unet = createUNet(config);
  unet.model.weights.forEach((w, i) => {
    const shape = w.shape;
    const value = tf.tidy(() => {
      if (shape.length === 1) return tf.add(w.read(), tf.randomUniform(shape, -0.1, 0.1, 'float32', seed + i));
      const bound = 1 / Math.sqrt(shape.slice(0, -1).reduce((a, b) => a * b, 1));
      return tf.randomUniform(shape, -bound, bound, 'float32', seed + i);
    });
    w.write(value);
    value.dispose();
  });
  return unet;
}

/**
 * A seeded batch: x [B, S, S, C] ~ N(0, 1) (NHWC), t [B] int32 in [0, timesteps), and a
 * regression target [B, S, S, outChannels] ~ N(0, 1).
 */
export function fixedBatch(unetConfig, batch, timesteps, seed) {
  const { imageSize: s, inChannels, outChannels } = unetConfig;
  return {
    x: tf.randomNormal([batch, s, s, inChannels], 0, 1, 'float32', seed),
    t: tf.randomUniform([batch], 0, timesteps, 'int32', seed + 1),
    target: tf.randomNormal([batch, s, s, outChannels], 0, 1, 'float32', seed + 2),
  };
}

/** Prints each timed call of `fn` to stderr, labelled. */
function withProgress(label, fn, { warmup, repeats }) {
  let call = 0;
  return async () => {
    const start = performance.now();
    await fn();
    call++;
    const what = call <= warmup ? `warm-up ${call}/${warmup}` : `${call - warmup}/${repeats}`;
    process.stderr.write(`difflib ${label}: ${what} ${(performance.now() - start).toFixed(1)} ms\n`);
  };
}

/**
 * Times `unet.forward(x, t)` (inference: no dropout), read back each call.
 * @returns {Promise<import('../stats.mjs').Summary>} ms per call.
 */
export function timeForward(unet, { x, t }, options) {
  const forward = async () => {
    const y = unet.forward(x, t);
    await y.data();
    y.dispose();
  };
  return timeRepeats(withProgress('forward', forward, options), options);
}

/** The timestep of the timed DDIM step, as torch_bench.py's DDIM_T. */
const DDIM_T = 500;

/**
 * Times one DDIM step (η = 0, clipped x̂_0) of improved-diffusion's linear schedule of 1000
 * steps at t = 500 — `GaussianDiffusion.ddimSample` — read back each call, as
 * torch_bench.py times ddim_sample.
 * @returns {Promise<import('../stats.mjs').Summary>} ms per step.
 */
export async function timeDdimStep(unet, { x }, options) {
  const learnSigma = unet.config.learnSigma;
  const diffusion = new GaussianDiffusion({
    schedule: NoiseSchedule.named('linear', 1000),
    modelMeanType: 'epsilon',
    modelVarType: learnSigma ? 'learned_range' : 'fixed_small',
    lossType: 'mse',
  });
  const t = tf.fill([x.shape[0]], DDIM_T, 'int32');
  const model = (xt, ts) => unet.forward(xt, ts);
  const step = async () => {
    const { sample, predXStart } = diffusion.ddimSample(model, x, t, { clipDenoised: true, eta: 0 });
    await sample.data();
    tf.dispose([sample, predXStart]);
  };
  try {
    return await timeRepeats(withProgress('DDIM step', step, options), options);
  } finally {
    t.dispose();
  }
}

/**
 * Times one train step: forward (training: dropout on), MSE against `target`, gradients
 * of every trainable weight (tf.variableGrads), difflib's AdamW update; then the loss is
 * read back. The wasm backend runs each kernel when it is called, so the update is done
 * by then too.
 * @returns {Promise<import('../stats.mjs').Summary>} ms per step.
 */
export async function timeTrainStep(unet, { x, t, target }, options) {
  const variables = unet.model.trainableWeights.map((w) => w.read());
  const optimizer = new AdamW(variables, { learningRate: LEARNING_RATE });
  const step = async () => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.squaredDifference(unet.forward(x, t, { training: true }), target)),
      variables,
    );
    optimizer.applyGradients(grads);
    await value.data();
    tf.dispose([value, grads]);
  };
  try {
    return await timeRepeats(withProgress('train step', step, options), options);
  } finally {
    optimizer.dispose();
  }
}
