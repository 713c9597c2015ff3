#!/usr/bin/env node
// Loads PyTorch weights of an improved-diffusion / guided-diffusion UNetModel (a state
// dict saved by torch.save, or as safetensors) into difflib's createUNet, runs a forward pass, and, when
// the config file holds a reference output, reports how far difflib's output is from it.
//
//   npm run example:import-torch-weights          # the reference U-Net in test/fixtures/reference
//   node examples/import-torch-weights.mjs my-model.pt --config my-model.json
//
// Arguments: [WEIGHTS] a .pt/.pth (torch.save, read without running it) or .safetensors file
//            (default test/fixtures/reference/unet_improved.safetensors)
// Flags: --config FILE (default: WEIGHTS with .json for its extension)  --image-size N
//        --backend wasm|cpu (wasm)  --export FILE (write the weights back out as a state dict)
//
// The config is JSON: either a reference case as test/fixtures/reference/unet_*.json stores it
// ({ cases: [{ config: { constructor_kwargs }, inputs: { x, timesteps }, outputs: { output } }] },
// x and output in PyTorch's NCHW layout), or just UNetModel's keyword arguments,
// snake_case as in Python, e.g.
//   { "image_size": 64, "in_channels": 3, "model_channels": 128, "out_channels": 6,
//     "num_res_blocks": 3, "attention_resolutions": [4, 8], "channel_mult": [1, 2, 3, 4],
//     "num_heads": 4, "use_scale_shift_norm": true }
// (attention_resolutions as UNetModel takes them: downsample factors, image_size // res).
// What a .pt file may hold (and what is refused): docs/checkpoints.md.
// The last stdout line is `RESULT {json}`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { createUNet, exportTorchStateDict, loadTorchStateDict, readSafetensors, readTorchCheckpoint } from 'difflib';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    config: { type: 'string' },
    'image-size': { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    export: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: node examples/import-torch-weights.mjs [WEIGHTS.pt|.safetensors] [--config FILE.json] [--image-size N] [--backend wasm|cpu] [--export FILE]');
  process.exit(0);
}
const weightsPath = positionals[0] ?? 'test/fixtures/reference/unet_improved.safetensors';
const configPath = opts.config ?? weightsPath.replace(/\.(safetensors|pth?)$/, '') + '.json';
if (!existsSync(weightsPath)) throw new Error(`no weights file at ${weightsPath}`);
if (!existsSync(configPath)) throw new Error(`no config at ${configPath}: pass --config with UNetModel's kwargs as JSON`);
if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, got ${opts.backend}`);

await import(opts.backend === 'wasm' ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-cpu');
if (!(await tf.setBackend(opts.backend))) throw new Error(`backend ${opts.backend} failed to start`);
await tf.ready();

// ---------------------------------------------------------------- the configuration
const json = JSON.parse(readFileSync(configPath, 'utf8'));
const reference = Array.isArray(json.cases) ? json.cases[0] : null; // a reference case file, or plain kwargs
const kwargs = reference ? reference.config.constructor_kwargs : json;
/** UNetModel's kwargs (snake_case) → createUNet's config (camelCase). */
function unetConfigOf(kwargs, imageSize) {
  const config = {};
  for (const [key, value] of Object.entries(kwargs)) {
    if (key === 'use_checkpoint' || key === 'use_fp16') continue; // PyTorch memory/precision knobs: nothing to port
    config[key.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = value;
  }
  // improved-diffusion's UNetModel takes no image_size (guided-diffusion's does).
  config.imageSize ??= imageSize;
  if (config.imageSize === undefined) throw new Error('the config has no image_size: pass --image-size N');
  return config;
}
const refX = reference?.inputs.x; // NCHW
const config = unetConfigOf(kwargs, opts['image-size'] ? Number(opts['image-size']) : refX?.shape[2]);
console.log(`config (${configPath}): ${JSON.stringify(config)}`);

// ---------------------------------------------------------------- load
const bytes = new Uint8Array(readFileSync(weightsPath));
// Both readers give name → { dtype, shape, data }; loadTorchStateDict tells the formats apart itself.
const { tensors, metadata } = weightsPath.endsWith('.safetensors') ? readSafetensors(bytes) : { tensors: readTorchCheckpoint(bytes), metadata: {} };
console.log(`${weightsPath}: ${tensors.size} tensors, metadata ${JSON.stringify(metadata)}`);
const unet = createUNet(config);
let t0 = performance.now();
try {
  loadTorchStateDict(unet, bytes); // all or nothing: throws, listing missing/unexpected/mis-shaped keys
} catch (e) {
  console.error(`${e.name}: ${e.message}`);
  console.error('The weights do not fit this configuration: check the kwargs (use_scale_shift_norm, channel_mult, num_heads, …).');
  process.exit(1); // (an exception thrown past the wasm backend's handler would exit with code 7)
}
const loadSeconds = (performance.now() - t0) / 1000;
console.log(`loaded ${unet.countParams()} parameters into createUNet(config) in ${loadSeconds.toFixed(2)} s`);

// ---------------------------------------------------------------- forward
// PyTorch images are NCHW, tfjs' are NHWC: transpose the input, and the output back to compare.
const [x, t] = refX
  ? [tf.transpose(tf.tensor(refX.data, refX.shape, 'float32'), [0, 2, 3, 1]), tf.tensor1d(reference.inputs.timesteps.data, 'int32')]
  : [tf.randomNormal([2, config.imageSize, config.imageSize, config.inChannels], 0, 1, 'float32', 0), tf.tensor1d([0, 500], 'int32')];
t0 = performance.now();
const out = unet.forward(x, t); // [B, S, S, outChannels]
const outNchw = tf.transpose(out, [0, 3, 1, 2]);
const actual = outNchw.dataSync();
const forwardSeconds = (performance.now() - t0) / 1000;
console.log(`forward: x ${JSON.stringify(x.shape)} (NHWC), t [${t.dataSync()}] → ${JSON.stringify(out.shape)} in ${forwardSeconds.toFixed(2)} s`);

let comparison = null;
if (reference) {
  const expected = reference.outputs.output.data; // NCHW, float32 values
  let maxAbsError = 0;
  let maxAbsReference = 0;
  expected.forEach((e, i) => {
    maxAbsError = Math.max(maxAbsError, Math.abs(actual[i] - e));
    maxAbsReference = Math.max(maxAbsReference, Math.abs(e));
  });
  comparison = { maxAbsError, maxAbsReference, scaledError: maxAbsError / maxAbsReference };
  console.log(
    `vs the PyTorch output stored in ${configPath}: max |difflib − torch| = ${maxAbsError.toExponential(2)} ` +
      `(max |torch| = ${maxAbsReference.toFixed(3)}, scaled error ${comparison.scaledError.toExponential(2)})`,
  );
} else {
  let [mean, meanSq] = [0, 0];
  for (const v of actual) [mean, meanSq] = [mean + v / actual.length, meanSq + (v * v) / actual.length];
  console.log(`output mean ${mean.toFixed(4)}, std ${Math.sqrt(meanSq - mean * mean).toFixed(4)} (no reference output to compare with)`);
}

// ---------------------------------------------------------------- and back out
// exportTorchStateDict writes PyTorch names and layouts: the round trip gives back the file's tensors.
const exported = exportTorchStateDict(unet, { format: 'pt', source: 'difflib' });
if (opts.export) {
  writeFileSync(opts.export, exported);
  console.log(`wrote ${opts.export} (${exported.length} bytes): load it with model.load_state_dict(safetensors.torch.load_file(path))`);
}
let roundTripMaxDiff = 0;
for (const [name, tensor] of readSafetensors(exported).tensors) {
  const original = tensors.get(name).data;
  tensor.data.forEach((v, i) => (roundTripMaxDiff = Math.max(roundTripMaxDiff, Math.abs(v - original[i]))));
}
console.log(`export → re-read: ${tensors.size} tensors, max difference from the original file ${roundTripMaxDiff}`);

const parameters = unet.countParams();
tf.dispose([x, t, out, outNchw]);
unet.dispose();
console.log(
  'RESULT ' +
    JSON.stringify({
      backend: tf.getBackend(),
      weights: weightsPath,
      config: configPath,
      parameters,
      referenceParameters: reference?.num_parameters ?? null,
      outputShape: out.shape,
      ...(comparison ?? { maxAbsError: null, maxAbsReference: null, scaledError: null }),
      roundTripMaxDiff,
      loadSeconds: Math.round(loadSeconds * 1000) / 1000,
      forwardSeconds: Math.round(forwardSeconds * 1000) / 1000,
    }),
);
