// `difflib nll`: scripts/image_nll.py — the variational bound in bits/dim over a folder of
// images, batch after batch, with its log lines and its {vb,mse,xstart_mse}_terms.npz.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BpdLoopResult } from '../../index';
import { atLeast, required, type Command, type CommandContext } from '../command';
import { ImageFolder, evaluationOrder } from '../data/image-folder';
import { MODEL_FLAGS, NLL_FLAGS, RUN_FLAGS } from '../flags/definitions';
import type { FlagValues } from '../flags/spec';
import { Progress } from '../log/progress';
import { reprFloat } from '../log/py-format';
import { writeNpz } from '../output/npz';
import { CliUsageError } from '../usage-error';
import { startModelRun } from './model-run';

const NAME = 'difflib nll';

/**
 * Batch b's noise seed for calcBpdLoop (whose step t uses seed + t): batches are spaced by
 * T, so no two draws share a seed. Batch 0 uses `--seed` itself.
 */
export const nllBatchSeed = (seed: number, batch: number, numTimesteps: number): number => (seed + batch * numTimesteps) % 2 ** 32;

/** The metrics image_nll.py averages per step, by the name of their .npz, with calcBpdLoop's fields. */
const TERMS = [
  ['vb', 'vb'],
  ['mse', 'mse'],
  ['xstart_mse', 'xstartMse'],
] as const;

async function run(f: FlagValues, _given: ReadonlySet<string>, ctx: CommandContext): Promise<void> {
  const dataDir = required(f, 'data_dir');
  const modelPath = required(f, 'model_path');
  const numSamples = atLeast(f, 'num_samples', 1);
  const batchSize = atLeast(f, 'batch_size', 1);
  const { seed, imageSize, diffusion, logger, backend, unet } = await startModelRun(NAME, f, ctx, modelPath);
  try {
    logger.log(`${backend}; ${diffusion.numTimesteps} steps; seed ${seed}`);
    logger.log('creating data loader...');
    const folder = await ImageFolder.open(NAME, dataDir, imageSize, f['class_cond'] as boolean);
    if (folder.length < batchSize) {
      throw new CliUsageError(`--data_dir "${dataDir}" holds ${folder.length} images, fewer than --batch_size ${batchSize} (improved-diffusion's loader drops incomplete batches)`);
    }

    logger.log('evaluating...');
    const T = diffusion.numTimesteps;
    const allBpd: number[] = [];
    const sums = Object.fromEntries(TERMS.map(([name]) => [name, new Float64Array(T)])) as Record<(typeof TERMS)[number][0], Float64Array>;
    const batches = Math.ceil(numSamples / batchSize);
    const progress = new Progress(ctx.out, 'nll step', batches * T, { tty: ctx.tty });
    let numComplete = 0;
    for (let b = 0; numComplete < numSamples; b++) {
      if (ctx.signal?.aborted) throw ctx.signal.reason;
      const batch = await folder.batch(evaluationOrder(folder.length, batchSize, b));
      let result: BpdLoopResult;
      try {
        result = diffusion.calcBpdLoop(unet.forward, batch.x, {
          clipDenoised: f['clip_denoised'] as boolean,
          seed: nllBatchSeed(seed, b, T),
          ...(batch.y ? { modelKwargs: { y: batch.y } } : {}),
          onProgress: (done) => progress.update(b * T + done),
        });
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
      // Means over the batch, in float32 on the device, as torch's .mean(dim=0) and .mean().
      const means = tf.tidy(() => tf.concat([tf.reshape(tf.mean(result.totalBpd), [1]), ...TERMS.map(([, field]) => tf.mean(result[field], 0))]));
      tf.dispose(result);
      const host = await means.data();
      means.dispose();
      allBpd.push(host[0]!);
      TERMS.forEach(([name], k) => {
        for (let t = 0; t < T; t++) sums[name][t]! += host[1 + k * T + t]!;
      });
      numComplete += batchSize;
      logger.log(`done ${numComplete} samples: bpd=${reprFloat(allBpd.reduce((a, v) => a + v, 0) / allBpd.length)}`);
    }
    progress.end();
    for (const [name] of TERMS) {
      const outPath = path.join(logger.dir, `${name}_terms.npz`);
      logger.log(`saving ${name} terms to ${outPath}`);
      const mean = Float32Array.from(sums[name], (v) => v / allBpd.length);
      await writeNpz(outPath, [{ array: { descr: '<f4', data: mean }, shape: [T] }]);
    }
    logger.log('evaluation complete');
  } finally {
    unet.dispose();
  }
}

/** `difflib nll`. */
export const nllCommand: Command = {
  name: 'nll',
  script: 'scripts/image_nll.py',
  summary: 'bits/dim of a model on a folder of images (image_nll.py)',
  description: [
    'Computes the variational bound (calcBpdLoop: every term L_0 … L_{T-1} plus the prior)',
    'of --model_path on the images of --data_dir, taken in order in batches of --batch_size',
    'until --num_samples are done, and logs the running mean after each batch:',
    '  done <n> samples: bpd=<bits/dim>',
    'then writes vb_terms.npz, mse_terms.npz and xstart_mse_terms.npz ([T] float32 means',
    'per step, from t = T-1 down to 0) to the log directory.',
  ].join('\n'),
  flags: [...NLL_FLAGS, ...MODEL_FLAGS, ...RUN_FLAGS],
  run,
};
