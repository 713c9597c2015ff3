// The measurements of `npm run bench`, for whichever backend tfjs has active. Runs in
// Node and, bundled, in Chromium (bench/browser/), so it takes tfjs and difflib as
// arguments and imports nothing backend-specific.
import { timeRepeats } from './stats.mjs';

/**
 * Measures one configuration on the active backend:
 * - forward: U-Net forward of a [B, H, W, C] batch, until its output is read back;
 * - trainStep: a `Trainer.step` (hybrid loss, forward + backward + AdamW + EMA, one readback);
 * - overhead: the same `trainingLosses` forward + backward with a one-multiply stand-in
 *   model, i.e. the diffusion-side work of a step, and its share of `trainStep`;
 * - ddim: a DDIM sampling loop of `ddimSteps` respaced steps on the batch;
 * - schedulerStepMs: per diffusers-style scheduler, the time of one `scaleModelInput` +
 *   `step` (a fixed model output stands in for the model), and the largest as a share of
 *   the forward pass (`schedulerStepShare`);
 * - peak `tf.memory().numBytes` during a forward and a train step;
 * - readbacks per sampling step (backend reads counted inside the loop), and tensors alive
 *   after `leakSteps` sampling steps and after every train step taken.
 *
 * @param {object} args
 * @param {typeof import('@tensorflow/tfjs-core')} args.tf
 * @param {typeof import('difflib')} args.difflib
 * @param {{ unet: object, batch: number, timesteps: number }} args.config
 * @param {number} [args.warmup] - untimed calls before each timed series.
 * @param {number} [args.repeats] - timed calls per series.
 * @param {number} [args.ddimSteps] - 0 skips the sampling measurement.
 * @param {number} [args.schedulerSteps] - inference steps per scheduler timing (0 skips).
 * @param {number} [args.leakSteps] - sampling steps of the tensor-growth check (0 skips).
 * @param {boolean} [args.profile] - also time a train step per kernel (tf.profile).
 * @param {(line: string) => void} [args.log] - progress lines.
 */
export async function measure({ tf, difflib, config, warmup = 2, repeats = 5, ddimSteps = 50, schedulerSteps = 20, leakSteps = 100, profile = false, log = () => {} }) {
  const { createUNet, GaussianDiffusion, Trainer, namedBetaSchedule } = difflib;
  const { imageSize: H, inChannels: C } = config.unet;
  const B = config.batch;
  const shape = [B, H, H, C];
  const tensorsAtStart = tf.memory().numTensors;

  const unet = createUNet(config.unet);
  const diffusion = new GaussianDiffusion({
    betas: namedBetaSchedule('cosine', config.timesteps),
    modelMeanType: 'epsilon',
    modelVarType: config.unet.learnSigma ? 'learned_range' : 'fixed_small',
    lossType: config.unet.learnSigma ? 'rescaled_mse' : 'mse',
  });
  const x = tf.randomUniform(shape, -1, 1, 'float32', 1);
  const t = tf.tensor1d(Array.from({ length: B }, (_, i) => Math.floor(((i + 0.5) * config.timesteps) / B)), 'int32');
  const result = { params: unet.countParams(), batch: B, shape };

  log('forward');
  const forward = async () => {
    const y = unet.forward(x, t);
    await y.data();
    y.dispose();
  };
  result.forwardMs = await timeRepeats(forward, { warmup, repeats });
  result.imagesPerSecond = (1000 * B) / result.forwardMs.median;
  result.peakBytesForward = await peakBytes(tf, forward);

  log('train step');
  const trainer = new Trainer({ diffusion, model: unet, batchSize: B, lr: 1e-4, emaRates: [0.9999], seed: 0 });
  const tensorsBeforeSteps = tf.memory().numTensors;
  const step = () => trainer.step(x);
  result.trainStepMs = await timeRepeats(step, { warmup, repeats });
  result.peakBytesTrainStep = await peakBytes(tf, step);
  if (profile) result.trainStepKernels = await kernelProfile(tf, step);
  result.trainSteps = trainer.stepCount;
  result.tensorGrowthOverTrainSteps = tf.memory().numTensors - tensorsBeforeSteps;

  log('diffusion overhead');
  const scale = tf.tidy(() => tf.variable(tf.scalar(1))); // tidy frees the initial scalar
  const outChannels = config.unet.outChannels;
  // ε and v outputs of the right shape from one multiply: the diffusion math alone.
  const standIn = (xt) => tf.mul(outChannels === C ? xt : tf.concat([xt, xt], 3), scale);
  const noise = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const lossesOnly = async () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(diffusion.trainingLosses(standIn, x, t, { noise }).loss), [scale]);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  };
  result.overheadMs = await timeRepeats(lossesOnly, { warmup, repeats });
  result.overheadShare = result.overheadMs.median / result.trainStepMs.median;
  tf.dispose([scale, noise]);

  if (ddimSteps > 0) {
    log(`DDIM-${ddimSteps} sampling`);
    const fast = diffusion.respace(`ddim${ddimSteps}`);
    let reads = 0;
    const sample = async () => {
      const counter = countReads(tf);
      const out = await fast.ddimSampleLoop(unet.forward, shape, { seed: 3 });
      reads = counter.stop();
      await out.data();
      out.dispose();
    };
    const ddim = await timeRepeats(sample, { warmup: 0, repeats: 1 });
    result.ddimSteps = ddimSteps;
    result.ddimSeconds = ddim.median / 1000;
    result.readbacksPerSamplingStep = reads / ddimSteps;
  }

  if (schedulerSteps > 0) {
    log(`scheduler steps (${schedulerSteps} inference steps each)`);
    result.schedulerStepMs = await schedulerStepTimes({ tf, difflib, x, steps: schedulerSteps, warmup: Math.min(warmup, 1), repeats });
    const shares = Object.entries(result.schedulerStepMs).map(([name, ms]) => [name, ms / result.forwardMs.median]);
    const [worst, share] = shares.reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0]);
    result.schedulerStepShare = { worst, share };
  }

  if (leakSteps > 0) {
    log(`tensor growth over ${leakSteps} sampling steps`);
    const before = tf.memory().numTensors;
    const out = await diffusion.respace(`ddim${Math.min(leakSteps, config.timesteps)}`).ddimSampleLoop(unet.forward, shape, { seed: 4 });
    await out.data(); // let queued GPU work finish inside the measurement
    out.dispose();
    result.leakSteps = leakSteps;
    result.tensorGrowthOverSamplingSteps = tf.memory().numTensors - before;
  }

  trainer.dispose();
  unet.dispose();
  tf.dispose([x, t]);
  result.tensorsLeftAfterDispose = tf.memory().numTensors - tensorsAtStart;
  return result;
}

/** diffusers' scheduler class names; those `schedulerFromConfig` accepts are timed. */
const SCHEDULERS = [
  'DDPMScheduler', 'DDIMScheduler', 'PNDMScheduler', 'LCMScheduler', 'EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler',
  'HeunDiscreteScheduler', 'LMSDiscreteScheduler', 'KDPM2DiscreteScheduler', 'DPMSolverMultistepScheduler',
  'DPMSolverSinglestepScheduler', 'DEISMultistepScheduler', 'UniPCMultistepScheduler',
];

/**
 * Milliseconds per model call of each scheduler's loop (default config, `steps` inference
 * steps), the model replaced by a fixed output: `scaleModelInput` + `step` alone, until
 * the last sample is read back.
 */
async function schedulerStepTimes({ tf, difflib, x, steps, warmup, repeats }) {
  const modelOutput = tf.randomNormal(x.shape, 0, 1, 'float32', 5);
  const times = {};
  for (const name of SCHEDULERS) {
    let scheduler;
    try {
      scheduler = difflib.schedulerFromConfig({ _class_name: name }, { warn: () => {} });
    } catch {
      continue; // not in this difflib
    }
    scheduler.setTimesteps(steps);
    const calls = scheduler.timesteps.length;
    const loop = async () => {
      scheduler.setTimesteps(steps);
      let sample = tf.clone(x);
      for (const t of Array.from(scheduler.timesteps)) {
        const input = scheduler.scaleModelInput(sample, t);
        const out = scheduler.step(modelOutput, t, sample, { seed: 1 });
        if (input !== sample) input.dispose();
        sample.dispose();
        for (const [key, value] of Object.entries(out)) if (key !== 'prevSample' && value instanceof tf.Tensor) value.dispose();
        sample = out.prevSample;
      }
      await sample.data();
      sample.dispose();
    };
    times[name] = (await timeRepeats(loop, { warmup, repeats })).median / calls;
    scheduler.dispose();
  }
  modelOutput.dispose();
  return times;
}

/** The largest `tf.memory().numBytes` while `fn` runs (tf.profile's peak, kernel checks off). */
async function peakBytes(tf, fn) {
  const check = tf.env().getBool('CHECK_COMPUTATION_FOR_ERRORS');
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  try {
    const info = await tf.profile(fn);
    return info.peakBytes;
  } finally {
    tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', check);
  }
}

/**
 * Time per kernel name over one call of `fn`, largest first: `{ kernel, ms, calls, share }`.
 * Per-kernel times are the backend's own (wall time of each sync kernel on cpu/wasm,
 * GPU timer queries on webgl/webgpu where available).
 */
async function kernelProfile(tf, fn) {
  const check = tf.env().getBool('CHECK_COMPUTATION_FOR_ERRORS');
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  try {
    const info = await tf.profile(fn);
    const byName = new Map();
    // `name__op` entries are tf.fused op scopes around their kernel: counting both doubles it.
    for (const k of info.kernels.filter((k) => !k.name.endsWith('__op'))) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0; // resolved by tf.profile; { error } when untimed
      const entry = byName.get(k.name) ?? { kernel: k.name, ms: 0, calls: 0 };
      entry.ms += ms;
      entry.calls += 1;
      byName.set(k.name, entry);
    }
    const total = [...byName.values()].reduce((sum, e) => sum + e.ms, 0);
    return [...byName.values()].sort((a, b) => b.ms - a.ms).map((e) => ({ ...e, share: e.ms / total }));
  } finally {
    tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', check);
  }
}

/** Counts the active backend's data reads (sync and async) until `stop()`. */
function countReads(tf) {
  const backend = tf.backend();
  const { read, readSync } = backend;
  const own = ['read', 'readSync'].filter((name) => Object.hasOwn(backend, name));
  let count = 0;
  backend.read = function (...args) {
    count++;
    return read.apply(this, args);
  };
  backend.readSync = function (...args) {
    count++;
    return readSync.apply(this, args);
  };
  return {
    stop() {
      backend.read = read;
      backend.readSync = readSync;
      for (const name of ['read', 'readSync']) if (!own.includes(name)) delete backend[name];
      return count;
    },
  };
}
