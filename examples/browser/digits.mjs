// The digits half of the browser demo: a U-Net trained by examples/digits.mjs, loaded with
// loadModelFile from the model.safetensors it writes (EMA weights in PyTorch layout, the U-Net
// and process configs in the file's metadata), then sampled on the page's backend with improved-diffusion's
// ancestral sampler or any diffusers-style scheduler difflib has.
import { loadModelFile, sampleProgressive, schedulerFromConfig } from 'difflib';
import { digitsOverrides, modelForScheduler, schedulerConfigFor } from '../lib/schedulers.mjs';

/** The sampler name of improved-diffusion's ancestral sampler (a respaced GaussianDiffusion). */
export const ANCESTRAL = 'ancestral';

/**
 * Fetches `url` and rebuilds the model with {@link digitsModelFromBytes}.
 * @returns {Promise<{ unet: import('difflib').UNet, diffusion: import('difflib').GaussianDiffusion, info: object }>}
 */
export async function loadDigitsModel(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  return digitsModelFromBytes(new Uint8Array(await response.arrayBuffer()), url);
}

/**
 * Rebuilds the model from the bytes of its model file (`loadModelFile`: the U-Net with its
 * weights and the process it was trained with) and reads the training notes that
 * examples/digits.mjs adds (`name` is for messages).
 * @returns {{ unet: import('difflib').UNet, diffusion: import('difflib').GaussianDiffusion, info: object }}
 */
export function digitsModelFromBytes(bytes, name = 'the model file') {
  const { unet, diffusion, metadata } = loadModelFile(bytes);
  if (!metadata.difflib || !diffusion) {
    unet.dispose();
    throw new Error(`${name} has no "difflib" notes or no process (write it with examples/digits.mjs)`);
  }
  return { unet, diffusion, info: JSON.parse(metadata.difflib) };
}

/**
 * Samples `n` digits in `steps` steps with `sampler`: {@link ANCESTRAL} (default) is
 * improved-diffusion's ancestral sampler with the learned variances on the process respaced
 * to `steps`; any other value is a diffusers `_class_name`, built by `schedulerFromConfig`
 * with the model's betas and `digitsOverrides` (lib/schedulers.mjs). Yields after each model call the current x_t
 * and, where the sampler forms one, x̂_0, on the host ({ i, total, xt, x0 }: Float32Array
 * [n·size·size] or null, values in about [−1, 1]).
 */
export async function* sampleDigits({ unet, diffusion, info }, { n, steps, seed, sampler = ANCESTRAL }) {
  const size = info.unet.imageSize;
  const channels = info.unet.inChannels;
  let process;
  let model = unet.forward;
  let options = { seed };
  if (sampler === ANCESTRAL) {
    process = diffusion.respace(String(Math.min(steps, diffusion.numTimesteps)));
  } else {
    const defaults = schedulerFromConfig({ _class_name: sampler }).config;
    process = schedulerFromConfig(schedulerConfigFor(sampler, info.process, digitsOverrides(defaults)));
    model = modelForScheduler(unet.forward, process, channels);
    options = { seed, numInferenceSteps: Math.min(steps, diffusion.numTimesteps) };
  }
  try {
    for await (const { index, total, sample, predXStart } of sampleProgressive(process, model, [n, size, size, channels], options)) {
      const [xt, x0] = await Promise.all([sample.data(), predXStart?.data() ?? null]);
      yield { i: index + 1, total, xt, x0 };
    }
  } finally {
    if (sampler !== ANCESTRAL) process.dispose();
  }
}

/** Share of pixels within 0.25 of black (−1): ~0.8 for MNIST digits, ~0.1 for clipped noise. */
export function backgroundShare(pixels) {
  let dark = 0;
  for (const v of pixels) if (v < -0.75) dark++;
  return dark / pixels.length;
}
