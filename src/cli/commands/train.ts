// `difflib train`: scripts/image_train.py — a model and process from the flags, a folder of
// images, improved-diffusion's TrainLoop (difflib's Trainer), checkpoints in the log directory.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  DirectoryCheckpointStore,
  Trainer,
  logKeyValues,
  loadTorchStateDict,
  saveModelFile,
  type Checkpoint,
  type GaussianDiffusion,
  type StepLog,
  type TrainerHyperparameters,
  type UNet,
} from '../../index';
import { checkBackendFlags, startBackend } from '../backend';
import { checkpointPaths, parseResumeStep } from '../checkpoint-names';
import { atLeast, required, runSeed, type Command, type CommandContext } from '../command';
import { ImageFolder, trainingOrder } from '../data/image-folder';
import { MODEL_FLAGS, RUN_FLAGS, TRAIN_FLAGS } from '../flags/definitions';
import type { FlagValues } from '../flags/spec';
import { Logger, resolveLogDir } from '../log/logger';
import { Progress } from '../log/progress';
import { reprFloat } from '../log/py-format';
import { diffusionFromFlags, unetConfigFromFlags } from '../model/build';
import { createUNetFromFlags, loadModelForFlags } from '../model/load';
import { CliUsageError } from '../usage-error';

const NAME = 'difflib train';

/** The training flags checked and completed, before anything heavy starts. */
interface TrainSettings {
  dataDir: string;
  batchSize: number;
  microbatch: number;
  lr: number;
  weightDecay: number;
  lrAnnealSteps: number;
  emaRates: number[];
  scheduleSampler: 'uniform' | 'loss-second-moment';
  logInterval: number;
  saveInterval: number;
  maxSteps: number;
  resume: string;
  seed: number;
}

function settings(f: FlagValues): TrainSettings {
  const batchSize = atLeast(f, 'batch_size', 1);
  const microbatch = f['microbatch'] as number;
  const emaText = f['ema_rate'] as string;
  const emaRates = emaText.split(',').map((part) => {
    const rate = /^\s*(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(part) ? Number(part) : NaN;
    if (!(rate >= 0 && rate < 1)) throw new CliUsageError(`argument --ema_rate: expects rates in [0, 1) separated by commas, got '${emaText}'`);
    return rate;
  });
  if (new Set(emaRates).size !== emaRates.length) throw new CliUsageError(`argument --ema_rate: lists a rate twice: '${emaText}'`);
  const sampler = f['schedule_sampler'] as string;
  if (sampler !== 'uniform' && sampler !== 'loss-second-moment') {
    throw new CliUsageError(`argument --schedule_sampler: must be uniform or loss-second-moment, got '${sampler}'`);
  }
  return {
    dataDir: required(f, 'data_dir'),
    batchSize,
    // improved-diffusion: "-1 disables microbatches"; a microbatch above B is one pass over B.
    microbatch: microbatch > 0 ? Math.min(microbatch, batchSize) : batchSize,
    lr: atLeast(f, 'lr', 0),
    weightDecay: atLeast(f, 'weight_decay', 0),
    lrAnnealSteps: atLeast(f, 'lr_anneal_steps', 0),
    emaRates,
    scheduleSampler: sampler,
    logInterval: atLeast(f, 'log_interval', 1),
    saveInterval: atLeast(f, 'save_interval', 1),
    maxSteps: atLeast(f, 'max_steps', 0),
    resume: f['resume_checkpoint'] as string,
    seed: runSeed(f),
  };
}

/**
 * The learning rate and anneal length for a Trainer whose step 0 is the run's step
 * `offset`: improved-diffusion anneals η(1 − (s + offset)/A), which is
 * η' (1 − s/A') with A' = A − offset and η' = η·A'/A.
 */
function shiftedSchedule(s: TrainSettings, offset: number): Pick<TrainerHyperparameters, 'lr' | 'lrAnnealSteps'> {
  if (s.lrAnnealSteps === 0 || offset === 0) return { lr: s.lr, lrAnnealSteps: s.lrAnnealSteps };
  const remaining = Math.max(1, s.lrAnnealSteps - offset);
  return { lr: (s.lr * remaining) / s.lrAnnealSteps, lrAnnealSteps: remaining };
}

/** A trainer and the run's step at its step 0. */
interface Run {
  trainer: Trainer;
  offset: number;
}

async function startRun(s: TrainSettings, f: FlagValues, given: ReadonlySet<string>, diffusion: GaussianDiffusion, logger: Logger, onStep: (log: StepLog) => void): Promise<{ run: Run; unet: UNet }> {
  const hyper = {
    batchSize: s.batchSize,
    microbatch: s.microbatch,
    weightDecay: s.weightDecay,
    emaRates: s.emaRates,
    scheduleSampler: s.scheduleSampler,
    onStep,
  };
  if (s.resume === '') {
    const unet = createUNetFromFlags(f, s.seed);
    return { unet, run: { trainer: new Trainer({ diffusion, model: unet, ...hyper, ...shiftedSchedule(s, 0), seed: s.seed }), offset: 0 } };
  }
  const resumeStep = parseResumeStep(s.resume);
  logger.log(`loading model from checkpoint: ${s.resume}...`);
  // The file is checked against the flags; the U-Net is then built from the flags (their dropout).
  const loaded = await loadModelForFlags(NAME, 'resume_checkpoint', s.resume, f, { loss: true });
  loaded.unet.dispose();
  const unet = createUNetFromFlags(f);
  // EMA files beside the weights, in their format: ema_<rate>_<step>.safetensors, or .pt beside a .pt.
  const paths = checkpointPaths(path.dirname(s.resume), resumeStep, s.emaRates, path.extname(s.resume) === '.pt' ? '.pt' : '.safetensors');
  let trainer: Trainer | undefined;
  try {
    if (existsSync(path.join(paths.opt, 'checkpoint'))) {
      logger.log(`loading optimizer state from checkpoint: ${paths.opt}`);
      const checkpoint = await new DirectoryCheckpointStore(paths.opt).read();
      const offset = Math.max(0, resumeStep - (checkpoint.state['step'] as number));
      const source = { read: async (): Promise<Checkpoint> => checkpoint, write: async () => undefined };
      trainer = await Trainer.load(source, { diffusion, model: unet, ...hyper, ...shiftedSchedule(s, offset), ...(given.has('seed') ? { seed: s.seed } : {}) });
      return { unet, run: { trainer, offset } };
    }
    // No trainer state beside the weights: start a new trainer from them (and from the EMA
    // files there), counting steps from the file's, as improved-diffusion does without opt*.pt.
    loadTorchStateDict(unet, loaded.bytes);
    // EMAs start from the weights; those with an ema_<rate>_<step> file beside them take it.
    trainer = new Trainer({ diffusion, model: unet, ...hyper, ...shiftedSchedule(s, resumeStep), seed: s.seed });
    for (const [i, { file }] of paths.emas.entries()) {
      if (!existsSync(file)) continue;
      logger.log(`loading EMA from checkpoint: ${file}...`);
      // Through the live weights, so the average takes the trainer's variable order.
      loadTorchStateDict(unet, await readFile(file));
      trainer.emas[i]!.setAverages(trainer.variables);
    }
    loadTorchStateDict(unet, loaded.bytes);
    return { unet, run: { trainer, offset: resumeStep } };
  } catch (e) {
    trainer?.dispose();
    unet.dispose();
    throw e;
  }
}

/** Writes `bytes` to `file` through a temporary file and a rename, so a crash leaves no torn file. */
async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, bytes);
  await rename(temporary, file);
}

async function run(f: FlagValues, given: ReadonlySet<string>, ctx: CommandContext): Promise<void> {
  const s = settings(f);
  checkBackendFlags(f['backend'] as string, f['threads'] as number | null);
  unetConfigFromFlags(f);
  const diffusion = diffusionFromFlags(f);
  const logger = new Logger(resolveLogDir(f['log_dir'] as string, ctx.env), ctx.out, ctx.env);
  const backend = await startBackend(NAME, f['backend'] as string, f['threads'] as number | null);
  if (f['use_fp16']) logger.log('use_fp16: difflib trains in float32 (the same updates, without loss scaling)');
  if (f['use_checkpoint']) logger.log('use_checkpoint: gradient checkpointing only saves memory in PyTorch; difflib computes the same gradients without it');

  logger.log('creating model and diffusion...');
  let stepLogs = 0;
  let offset = 0;
  const onStep = (log: StepLog) => {
    for (const [key, value] of Object.entries(logKeyValues(log))) {
      if (key === 'step') logger.logkv(key, value + offset);
      else if (key === 'samples') logger.logkv(key, value + offset * s.batchSize);
      else logger.logkvMean(key, value);
    }
    // improved-diffusion dumps after this run's steps 0, log_interval, 2·log_interval, …
    if (stepLogs++ % s.logInterval === 0) logger.dumpkvs();
  };
  const { run: started, unet } = await startRun(s, f, given, diffusion, logger, onStep);
  const { trainer } = started;
  offset = started.offset;
  try {
    logger.log(`${unet.countParams()} parameters; ${backend}; seed ${trainer.hyperparameters.seed}`);
    logger.log('creating data loader...');
    const folder = await ImageFolder.open(NAME, s.dataDir, f['image_size'] as number, f['class_cond'] as boolean);
    if (folder.length < s.batchSize) {
      throw new CliUsageError(`--data_dir "${s.dataDir}" holds ${folder.length} images, fewer than --batch_size ${s.batchSize} (improved-diffusion's loader drops incomplete batches)`);
    }
    if (folder.classNames && folder.classNames.length > (f['num_classes'] as number)) {
      throw new CliUsageError(`--data_dir "${s.dataDir}" names ${folder.classNames.length} classes, more than --num_classes ${f['num_classes'] as number}`);
    }
    if (folder.classNames) logger.log(`${folder.length} images, classes ${folder.classNames.map((n, i) => `${i}=${n}`).join(' ')}`);
    else logger.log(`${folder.length} images`);

    logger.log('training...');
    const stopAt = Math.min(s.lrAnnealSteps || Infinity, s.maxSteps || Infinity);
    const progress = new Progress(ctx.out, 'train step', Number.isFinite(stopAt) ? stopAt : null, { tty: ctx.tty }, offset + trainer.stepCount);
    const seed = trainer.hyperparameters.seed;
    let savedAt = -1;
    const save = async () => {
      const step = offset + trainer.stepCount;
      const paths = checkpointPaths(logger.dir, step, trainer.emas.map((e) => e.rate));
      const metadata = { 'difflib.step': String(step) };
      logger.log('saving model 0...');
      await writeAtomically(paths.model, saveModelFile({ unet, diffusion, metadata }));
      for (const [i, ema] of trainer.emas.entries()) {
        logger.log(`saving model ${reprFloat(ema.rate)}...`);
        await writeAtomically(paths.emas[i]!.file, ema.withWeights(() => saveModelFile({ unet, diffusion, metadata })));
      }
      await trainer.save(paths.opt);
      savedAt = step;
    };
    while (offset + trainer.stepCount < stopAt && !ctx.signal?.aborted) {
      const batch = await folder.batch(trainingOrder(folder.length, s.batchSize, seed, trainer.stepCount));
      let log: StepLog;
      try {
        log = await trainer.step(batch.x, batch.y ? { y: batch.y } : {});
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
      const step = offset + trainer.stepCount;
      progress.update(step, `loss ${log.loss.mean.toPrecision(4)}`);
      if (step % s.saveInterval === 0) await save();
    }
    progress.end();
    if (savedAt !== offset + trainer.stepCount && trainer.stepCount > 0) await save();
    if (ctx.signal?.aborted) {
      logger.log(`interrupted after step ${offset + trainer.stepCount}; continue with --resume_checkpoint ${checkpointPaths(logger.dir, offset + trainer.stepCount, []).model}`);
    }
  } finally {
    trainer.dispose();
    unet.dispose();
  }
}

/** `difflib train`. */
export const trainCommand: Command = {
  name: 'train',
  script: 'scripts/image_train.py',
  summary: 'train a U-Net on a folder of images (image_train.py)',
  description: [
    'Trains the model and process the flags describe on the images of --data_dir, with',
    "improved-diffusion's recipe (AdamW, EMAs, importance-sampled timesteps). Every",
    '--save_interval steps it writes, to the log directory (--log_dir, else $OPENAI_LOGDIR):',
    '  model<step>.safetensors        the weights (a difflib model file: sample/nll read it)',
    '  ema_<rate>_<step>.safetensors  the EMA weights, one file per --ema_rate',
    '  opt<step>/                     the trainer state that --resume_checkpoint continues from',
    'Steps are counted from 0 (improved-diffusion: until --lr_anneal_steps, or forever); give',
    '--max_steps to stop earlier. Ctrl-C saves a checkpoint and stops.',
  ].join('\n'),
  flags: [...TRAIN_FLAGS, ...MODEL_FLAGS, ...RUN_FLAGS],
  run,
};
