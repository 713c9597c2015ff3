// `difflib sample`: scripts/image_sample.py — batches of samples from a model, saved as
// samples_{N}x{H}x{W}x{C}.npz (uint8 NHWC arr_0, labels arr_1) in the log directory.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { seededUniform } from '../../random';
import { sample, type DiffusionModel, type Sampler, type SampleOptions } from '../../index';
import { atLeast, required, type Command, type CommandContext } from '../command';
import { MODEL_FLAGS, RUN_FLAGS, SAMPLE_FLAGS } from '../flags/definitions';
import type { FlagValues } from '../flags/spec';
import { Progress } from '../log/progress';
import { schedulerFromFlags } from '../model/scheduler';
import { writeNpz } from '../output/npz';
import { encodeGridPng } from '../output/png-grid';
import { CliUsageError } from '../usage-error';
import { startModelRun } from './model-run';

const NAME = 'difflib sample';

/**
 * Batch b's seed: x_T and every step's noise of batch b come from it (the loop's step i
 * uses seed + 1 + i), so batches are spaced by more than their step count.
 */
const batchSeed = (seed: number, batch: number, steps: number) => (seed + batch * (steps + 1)) % 2 ** 32;

/** (x + 1)·127.5 clamped to [0, 255] and truncated, as `.clamp(0, 255).to(th.uint8)` does. */
function toUint8(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.clipByValue(tf.mul(tf.add(x, 1), 127.5), 0, 255), 'int32'));
}

async function run(f: FlagValues, _given: ReadonlySet<string>, ctx: CommandContext): Promise<void> {
  const modelPath = required(f, 'model_path');
  const numSamples = atLeast(f, 'num_samples', 1);
  const batchSize = atLeast(f, 'batch_size', 1);
  const schedulerName = f['scheduler'] as string;
  if (schedulerName !== '' && f['use_ddim']) throw new CliUsageError('argument --use_ddim: --scheduler samples with a diffusers scheduler; give one or the other');
  const { seed, imageSize, diffusion, logger, backend, unet } = await startModelRun(NAME, f, ctx, modelPath);
  let sampler: Sampler = diffusion;
  let model: DiffusionModel = unet.forward;
  let options: SampleOptions = { method: f['use_ddim'] ? 'ddim' : 'ancestral', clipDenoised: f['clip_denoised'] as boolean };
  let steps = diffusion.numTimesteps;
  let how = f['use_ddim'] ? 'DDIM' : 'ancestral sampling';
  try {
    if (schedulerName !== '') {
      const chosen = await schedulerFromFlags(schedulerName, f, unet.forward);
      sampler = chosen.scheduler;
      model = chosen.model;
      options = { numInferenceSteps: chosen.numInferenceSteps };
      steps = chosen.numInferenceSteps;
      how = String(chosen.scheduler.toConfig()['_class_name']);
    }
    logger.log(`${backend}; ${how}, ${steps} steps; seed ${seed}`);

    logger.log('sampling...');
    const numClasses = f['class_cond'] ? (f['num_classes'] as number) : 0;
    const batches = Math.ceil(numSamples / batchSize);
    const pixelsPer = imageSize * imageSize * 3;
    const images = new Uint8Array(batches * batchSize * pixelsPer);
    const labels = new BigInt64Array(numClasses ? batches * batchSize : 0);
    const progress = new Progress(ctx.out, 'sample step', batches * steps, { tty: ctx.tty });
    for (let b = 0; b < batches; b++) {
      const s = batchSeed(seed, b, steps);
      let y: tf.Tensor1D | undefined;
      if (numClasses) {
        // improved-diffusion: th.randint(0, NUM_CLASSES, (batch_size,)).
        const uniform = seededUniform(s ^ 0x5bd1e995);
        const drawn = Int32Array.from({ length: batchSize }, () => Math.floor(uniform() * numClasses));
        drawn.forEach((label, i) => (labels[b * batchSize + i] = BigInt(label)));
        y = tf.tensor1d(drawn, 'int32');
      }
      try {
        const x0 = await sample(sampler, model, [batchSize, imageSize, imageSize, 3], {
          ...options,
          seed: s,
          ...(y ? { modelKwargs: { y } } : {}),
          onProgress: (done) => progress.update(b * steps + done),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        const bytes = toUint8(x0);
        x0.dispose();
        images.set(await bytes.data(), b * batchSize * pixelsPer);
        bytes.dispose();
      } finally {
        y?.dispose();
      }
      logger.log(`created ${(b + 1) * batchSize} samples`);
    }
    progress.end();

    const shape = [numSamples, imageSize, imageSize, 3];
    const outPath = path.join(logger.dir, `samples_${shape.join('x')}.npz`);
    logger.log(`saving to ${outPath}`);
    const arr = images.subarray(0, numSamples * pixelsPer);
    await writeNpz(outPath, [
      { array: { descr: '|u1', data: arr }, shape },
      ...(numClasses ? [{ array: { descr: '<i8' as const, data: labels.subarray(0, numSamples) }, shape: [numSamples] }] : []),
    ]);
    await writeFile(outPath.replace(/\.npz$/, '.png'), encodeGridPng(arr, numSamples, imageSize, imageSize));
    logger.log('sampling complete');
  } finally {
    if (sampler !== diffusion) (sampler as { dispose(): void }).dispose();
    unet.dispose();
  }
}

/** `difflib sample`. */
export const sampleCommand: Command = {
  name: 'sample',
  script: 'scripts/image_sample.py',
  summary: 'generate samples from a model into an .npz (image_sample.py)',
  description: [
    'Samples --num_samples images from --model_path in batches of --batch_size, with the',
    "process the flags describe (ancestral, or DDIM with --use_ddim; fewer steps with",
    '--timestep_respacing) or a diffusers scheduler (--scheduler). Writes, to the log',
    'directory (--log_dir, else $OPENAI_LOGDIR):',
    '  samples_<N>x<H>x<W>x3.npz  uint8 images as arr_0 ([N, H, W, 3]) and, with --class_cond,',
    '                            their int64 labels as arr_1 (np.load reads it)',
    '  samples_<N>x<H>x<W>x3.png  the first 64 as a grid',
  ].join('\n'),
  flags: [...SAMPLE_FLAGS, ...MODEL_FLAGS, ...RUN_FLAGS],
  run,
};
