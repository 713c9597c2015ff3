// The digits half of the browser demo: a U-Net trained by examples/digits.mjs, loaded from
// the model.safetensors it writes (EMA weights in PyTorch layout, the U-Net config and the
// process in the file's metadata), then sampled on the page's backend.
import { GaussianDiffusion, createUNet, loadTorchStateDict, namedBetaSchedule, readSafetensors } from 'difflib';

/**
 * Fetches `url` and rebuilds the model: createUNet(config) + loadTorchStateDict, and the
 * process it was trained with.
 * @returns {Promise<{ unet: import('difflib').UNet, diffusion: GaussianDiffusion, info: object }>}
 */
export async function loadDigitsModel(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const { metadata } = readSafetensors(bytes);
  if (!metadata.difflib) throw new Error(`${url} has no "difflib" metadata (write it with examples/digits.mjs)`);
  const info = JSON.parse(metadata.difflib);
  const unet = createUNet(info.unet);
  loadTorchStateDict(unet, bytes);
  const { schedule, timesteps, ...types } = info.process;
  const diffusion = new GaussianDiffusion({ betas: namedBetaSchedule(schedule, timesteps), ...types });
  return { unet, diffusion, info };
}

/**
 * Ancestral sampling of `n` digits over `steps` respaced steps (the learned variances make
 * few steps work), yielding after each step the current x_t and the model's x̂_0 on the
 * host ({ i, total, xt, x0 }: Float32Array [n·size·size], values in about [−1, 1]).
 */
export async function* sampleDigits({ unet, diffusion, info }, { n, steps, seed }) {
  const size = info.unet.imageSize;
  const process = diffusion.respace(String(Math.min(steps, diffusion.numTimesteps)));
  let i = 0;
  for await (const { sample, predXStart } of process.pSampleLoopProgressive(unet.forward, [n, size, size, 1], { seed })) {
    const [xt, x0] = await Promise.all([sample.data(), predXStart.data()]);
    yield { i: ++i, total: process.numTimesteps, xt, x0 };
  }
}

/** Share of pixels within 0.25 of black (−1): ~0.8 for MNIST digits, ~0.1 for clipped noise. */
export function backgroundShare(pixels) {
  let dark = 0;
  for (const v of pixels) if (v < -0.75) dark++;
  return dark / pixels.length;
}
