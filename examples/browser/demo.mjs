// The browser demo's page script (bundled by serve.mjs): (1) trains the 2-D toy on the
// page's backend and animates the reverse process as it learns; (2) samples digits from a
// model file written by examples/digits.mjs. URL parameters (all optional):
//
//   backend=auto|webgpu|webgl|wasm|cpu  (default auto: the fastest this browser has, by the
//               rule in backend-choice.mjs; the page's menu sets it)
//   threads=N   wasm threads, 1 to 8 (default: half the cores, as tfjs-backend-wasm takes by
//               itself; a thread per core was 4-5x slower on a busy 2-core machine); only when
//               the page is cross-origin isolated
//   steps=N     training steps (default 1500)
//   preview=N   animate sampling every N steps (default 250; 0: only at the end)
//   digits=N    digits to sample (default 16)       digitSteps=N sampling steps (default 50)
//   sampler=NAME  'ancestral' (improved-diffusion's, with the learned variances; default) or a
//               diffusers scheduler class, e.g. DPMSolverMultistepScheduler (the page's menu)
//   model=URL   the model file (default digits.safetensors, served next to the page)
//   autostart=1 run both parts without a click
//
// "Sample digits" samples again with the sampler and steps chosen on the page.
//
// window.demo holds what happened, for the Playwright test (test/browser-demo.test.ts):
// { phase, backend, backendReason, backendFacts, wasm: { simd, multithread, threads } | null,
//   losses, toy: { nearMode, modeShares, frames }, digits: { ... }, error }.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from 'difflib';
import { availableSchedulers } from '../lib/schedulers.mjs';
import { backendLabel, chooseBackend } from './backend-choice.mjs';
import { detectBackendFacts } from './backend-facts.mjs';
import { ANCESTRAL, backgroundShare, loadDigitsModel, sampleDigits } from './digits.mjs';
import { drawDigits, drawLoss, drawScatter } from './draw.mjs';
import { createToyModel, dataPoints, denoiseToy, modeStats, trainToy } from './toy.mjs';

const params = new URLSearchParams(location.search);
const int = (name, fallback) => {
  const v = Number(params.get(name) ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new Error(`URL parameter ${name} must be a whole number, got ${params.get(name)}`);
  return v;
};
const options = {
  threads: Math.min(8, Math.max(1, int('threads', Math.floor((navigator.hardwareConcurrency || 1) / 2)))),
  steps: int('steps', 1500),
  preview: int('preview', 250),
  digits: Math.max(1, int('digits', 16)),
  digitSteps: Math.max(1, int('digitSteps', 50)),
  sampler: params.get('sampler') ?? ANCESTRAL,
  model: params.get('model') ?? 'digits.safetensors',
};
const PREVIEW_POINTS = 1000;
const PREVIEW_STEPS = 25;

const $ = (id) => document.getElementById(id);
const demo = { phase: 'starting', backend: null, backendReason: null, backendFacts: null, wasm: null, losses: [], toy: null, digits: null, error: null };
window.demo = demo;

const fail = (error) => {
  demo.phase = 'error';
  demo.error = String(error?.stack ?? error);
  $('status').textContent = `Error: ${error?.message ?? error}`;
  console.error(error);
};

/**
 * Starts tfjs-backend-wasm with `threads` threads where its threaded build runs, and adds
 * difflib's training kernels. The build caps its pool at navigator.hardwareConcurrency / 2,
 * read once as it starts (1 on a 2-core machine, whatever setThreadsCount asks), so for
 * ?threads= above that the page shows it 2·threads cores meanwhile, as difflib/node's
 * registerThreadedWasmBackend does with os.cpus().
 * @returns {Promise<boolean>} whether it started (tf.setBackend's answer).
 */
async function startWasm(threads) {
  setThreadsCount(threads);
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * threads, configurable: true });
  let started;
  try {
    started = await tf.setBackend('wasm');
  } finally {
    delete navigator.hardwareConcurrency; // back to Navigator.prototype's getter
  }
  // Gradient kernels tfjs-backend-wasm lacks (the toy's embedding gather needs UnsortedSegmentSum).
  if (started) registerWasmTrainingKernels();
  return started;
}

/**
 * Starts the backend backend-choice.mjs picks from what this browser has (or the one
 * ?backend= names) and shows which and why. tfjs-backend-wasm fetches its .wasm from wasm/
 * (serve.mjs serves all three builds): the threaded SIMD build when the page is
 * cross-origin isolated, the SIMD one otherwise.
 */
async function startBackend() {
  demo.backendFacts = await detectBackendFacts(params);
  const { backend, reason } = chooseBackend(demo.backendFacts);
  $('backend').value = params.get('backend') ?? 'auto';
  setWasmPaths(new URL('wasm/', location.href).href);
  if (!(await (backend === 'wasm' ? startWasm(options.threads) : tf.setBackend(backend)))) {
    throw new Error(`the ${backend} backend did not start in this browser`);
  }
  await tf.ready();
  demo.backend = tf.getBackend();
  demo.backendReason = reason;
  if (demo.backend === 'wasm') {
    const [simd, multithread] = await Promise.all([tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')]);
    demo.wasm = { simd, multithread, threads: getThreadsCount() };
  }
  $('status').textContent = `Backend: ${backendLabel(demo.backend, demo.wasm)}: ${reason}. Ready.`;
  demo.phase = 'ready';
}

/** Part 1: train the toy, animating the reverse process every `preview` steps and at the end. */
async function runToy() {
  demo.phase = 'training';
  demo.losses = [];
  const canvas = $('toy-canvas');
  const data = dataPoints(PREVIEW_POINTS, 12345);
  const toy = createToyModel({ seed: 0 });
  let frames = 0;
  const animate = async (label, seed) => {
    let last = null;
    for await (const { i, total, points } of denoiseToy(toy, { n: PREVIEW_POINTS, steps: PREVIEW_STEPS, seed })) {
      drawScatter(canvas, { data, points, caption: `${label}: reverse process, step ${i} of ${total}` });
      frames++;
      last = points;
      await new Promise(requestAnimationFrame);
    }
    return last;
  };
  drawScatter(canvas, { data, caption: 'the data: 8 Gaussians' });
  try {
    await trainToy(toy, {
      steps: options.steps,
      onStep: (step, loss) => {
        demo.losses.push(loss);
        if (step % 10 === 0 || step === options.steps) {
          drawLoss($('loss-canvas'), demo.losses);
          $('toy-status').textContent = `training: step ${step} of ${options.steps}`;
        }
      },
      pauseEvery: options.preview,
      onPause: (step) => (step < options.steps ? animate(`after ${step} steps`, step) : undefined),
    });
    await new Promise(requestAnimationFrame);
    demo.phase = 'sampling toy';
    const points = await animate(`trained ${options.steps} steps`, 1);
    demo.toy = { ...modeStats(points), frames };
    $('toy-status').textContent =
      `trained ${options.steps} steps; ${(100 * demo.toy.nearMode).toFixed(0)}% of samples within 3σ of a mode ` +
      `(data: 99%, N(0, I): 6%)`;
  } finally {
    toy.dispose();
  }
}

/** The digits sampler menu: improved-diffusion's ancestral sampler, then every scheduler difflib has. */
function fillSamplerMenu() {
  const menu = $('digits-sampler');
  const names = [ANCESTRAL, ...availableSchedulers().available.map((a) => a.name)];
  if (!names.includes(options.sampler)) throw new Error(`URL parameter sampler must be one of ${names.join(', ')}, got ${options.sampler}`);
  for (const name of names) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name === ANCESTRAL ? 'ancestral, learned variances (improved-diffusion)' : name;
    menu.append(option);
  }
  menu.value = options.sampler;
  $('digits-steps').value = String(options.digitSteps);
}

/** Part 2: sample digits from the model file with the chosen sampler, showing x_t and x̂_0 at every model call. */
async function runDigits() {
  demo.phase = 'loading digits model';
  const sampler = $('digits-sampler').value;
  const steps = Number($('digits-steps').value);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`the number of steps must be a whole number from 1, got ${$('digits-steps').value}`);
  $('digits-status').textContent = `loading ${options.model}…`;
  const model = await loadDigitsModel(options.model);
  const size = model.info.unet.imageSize;
  const n = options.digits;
  const cols = Math.ceil(Math.sqrt(n));
  try {
    demo.phase = 'sampling digits';
    const started = performance.now();
    let last = null;
    for await (const step of sampleDigits(model, { n, steps, seed: 0, sampler })) {
      drawDigits($('digits-xt'), step.xt, { n, size, cols });
      if (step.x0) drawDigits($('digits-x0'), step.x0, { n, size, cols });
      $('digits-x0-caption').textContent = step.x0 ? 'x̂₀' : 'x̂₀ (this scheduler does not return it)';
      $('digits-status').textContent = `model call ${step.i} of ${step.total}`;
      last = step;
      await new Promise(requestAnimationFrame);
    }
    const seconds = (performance.now() - started) / 1000;
    demo.digits = {
      n,
      sampler,
      steps: Math.min(steps, model.diffusion.numTimesteps),
      modelCalls: last.total,
      size,
      finite: last.xt.every(Number.isFinite),
      maxAbs: last.xt.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
      backgroundShare: backgroundShare(last.xt),
      seconds,
      trainedSteps: model.info.trainedSteps,
    };
    $('digits-status').textContent =
      `${n} digits, ${sampler}, ${demo.digits.steps} steps (${last.total} model calls), ${seconds.toFixed(1)} s (model: ${model.info.trainedSteps} training steps, ` +
      `${model.info.objective ?? 'hybrid'} objective)`;
  } finally {
    model.unet.dispose();
  }
}

/** Runs `parts` in turn with the buttons disabled; phase 'done' at the end. */
async function runParts(...parts) {
  $('run').disabled = $('sample-digits').disabled = true;
  try {
    for (const part of parts) await part();
    demo.phase = 'done';
  } catch (error) {
    fail(error);
  } finally {
    $('run').disabled = $('sample-digits').disabled = false;
  }
}

$('backend').addEventListener('change', () => {
  params.set('backend', $('backend').value);
  location.search = params.toString();
});
$('run').addEventListener('click', () => runParts(runToy, runDigits));
$('sample-digits').addEventListener('click', () => runParts(runDigits));
Promise.resolve()
  .then(fillSamplerMenu)
  .then(startBackend)
  .then(() => (params.get('autostart') === '1' ? runParts(runToy, runDigits) : undefined), fail);
