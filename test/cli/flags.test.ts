// The CLI's flags against improved-diffusion's argparse parsers: the defaults below are
// transcribed from openai/improved-diffusion (script_util.model_and_diffusion_defaults and
// create_argparser of scripts/image_train.py, image_sample.py, image_nll.py).
import { describe, expect, it } from 'vitest';
import { MODEL_FLAGS, NLL_FLAGS, SAMPLE_FLAGS, TRAIN_FLAGS } from '../../src/cli/flags/definitions';
import { formatCommandHelp } from '../../src/cli/flags/help';
import { parseFlags } from '../../src/cli/flags/parse';
import type { FlagSpec, FlagValues } from '../../src/cli/flags/spec';
import { COMMANDS } from '../../src/cli/main';
import { diffusionFromFlags, unetConfigFromFlags } from '../../src/cli/model/build';
import { CliUsageError } from '../../src/cli/usage-error';

const MODEL_AND_DIFFUSION_DEFAULTS = {
  image_size: 64, num_channels: 128, num_res_blocks: 2, num_heads: 4, num_heads_upsample: -1,
  attention_resolutions: '16,8', dropout: 0.0, learn_sigma: false, sigma_small: false, class_cond: false,
  diffusion_steps: 1000, noise_schedule: 'linear', timestep_respacing: '', use_kl: false, predict_xstart: false,
  rescale_timesteps: true, rescale_learned_sigmas: true, use_checkpoint: false, use_scale_shift_norm: true,
};
const IMAGE_TRAIN = {
  data_dir: '', schedule_sampler: 'uniform', lr: 1e-4, weight_decay: 0.0, lr_anneal_steps: 0, batch_size: 1,
  microbatch: -1, ema_rate: '0.9999', log_interval: 10, save_interval: 10000, resume_checkpoint: '',
  use_fp16: false, fp16_scale_growth: 1e-3,
};
const IMAGE_SAMPLE = { clip_denoised: true, num_samples: 10000, batch_size: 16, use_ddim: false, model_path: '' };
const IMAGE_NLL = { data_dir: '', clip_denoised: true, num_samples: 1000, batch_size: 1, model_path: '' };

/** argparse's type for a default: int, float, str, or str2bool for a bool. */
const pythonType = (v: unknown) => (typeof v === 'boolean' ? 'bool' : typeof v === 'string' ? 'str' : Number.isInteger(v) && !String(v).includes('.') ? 'int' : 'float');
const specsOf = (flags: readonly FlagSpec[]) => Object.fromEntries(flags.filter((f) => f.group === 'improved-diffusion').map((f) => [f.name, f]));

describe("improved-diffusion's flags, names, types and defaults", () => {
  it.each([
    ['model_and_diffusion_defaults', MODEL_FLAGS, MODEL_AND_DIFFUSION_DEFAULTS],
    ['image_train.py', TRAIN_FLAGS, IMAGE_TRAIN],
    ['image_sample.py', SAMPLE_FLAGS, IMAGE_SAMPLE],
    ['image_nll.py', NLL_FLAGS, IMAGE_NLL],
  ] as const)('%s', (_, flags, defaults) => {
    const specs = specsOf(flags);
    expect(Object.keys(specs).sort()).toEqual(Object.keys(defaults).sort());
    for (const [name, value] of Object.entries(defaults)) {
      expect(specs[name]!.default, name).toBe(value);
      // 0.0 and 1e-4 are floats in Python: the type comes from the spec, not from the JS value.
      if (typeof value !== 'number' || name === 'dropout' || name === 'weight_decay' || name === 'lr' || name === 'fp16_scale_growth') {
        expect(specs[name]!.type, name).toBe(typeof value === 'number' ? 'float' : pythonType(value));
      } else expect(specs[name]!.type, name).toBe('int');
    }
  });

  it('every command takes the model flags and its script flags', () => {
    const byName = Object.fromEntries(COMMANDS.map((c) => [c.name, new Set(c.flags.map((f) => f.name))]));
    for (const [command, script] of [['train', IMAGE_TRAIN], ['sample', IMAGE_SAMPLE], ['nll', IMAGE_NLL]] as const) {
      for (const name of [...Object.keys(MODEL_AND_DIFFUSION_DEFAULTS), ...Object.keys(script)]) expect(byName[command]!.has(name), `${command} --${name}`).toBe(true);
    }
  });
});

const train = COMMANDS.find((c) => c.name === 'train')!;
const parse = (argv: string[]): FlagValues => {
  const parsed = parseFlags(argv, train.flags);
  if (parsed.help) throw new Error('help');
  return parsed.values;
};
const usage = (argv: string[]): string => {
  try {
    parse(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(CliUsageError);
    return (e as Error).message;
  }
  throw new Error(`parsed: ${argv.join(' ')}`);
};

describe('parsing as argparse does', () => {
  it("reads the README's command lines as they are", () => {
    const MODEL_FLAGS_README = '--image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True --class_cond True';
    const DIFFUSION_FLAGS = '--diffusion_steps 4000 --noise_schedule cosine --use_kl True';
    const TRAIN_FLAGS_README = '--lr 1e-4 --batch_size 128 --schedule_sampler loss-second-moment --microbatch 16';
    const v = parse(`--data_dir path/to/images ${MODEL_FLAGS_README} ${DIFFUSION_FLAGS} ${TRAIN_FLAGS_README}`.split(' '));
    expect(v).toMatchObject({
      data_dir: 'path/to/images', image_size: 64, num_channels: 128, num_res_blocks: 3, learn_sigma: true, class_cond: true,
      diffusion_steps: 4000, noise_schedule: 'cosine', use_kl: true, lr: 1e-4, batch_size: 128,
      schedule_sampler: 'loss-second-moment', microbatch: 16, rescale_timesteps: true,
    });
  });

  it.each([
    ['True', true], ['true', true], ['yes', true], ['Y', true], ['t', true], ['1', true],
    ['False', false], ['no', false], ['N', false], ['f', false], ['0', false],
  ])('str2bool reads %s as %s', (text, value) => {
    expect(parse(['--learn_sigma', text])['learn_sigma']).toBe(value);
  });

  it("takes --flag=value, negative numbers as values, Python's int and float text, and the last of repeated flags", () => {
    const v = parse(['--microbatch', '-1', '--lr=3e-5', '--save_interval', '1_000', '--dropout', '.1', '--batch_size', '2', '--batch_size', '4']);
    expect(v).toMatchObject({ microbatch: -1, lr: 3e-5, save_interval: 1000, dropout: 0.1, batch_size: 4 });
  });

  it('takes a unique prefix for the whole name (argparse allow_abbrev)', () => {
    expect(parse(['--data', 'x', '--resume', 'm.safetensors'])).toMatchObject({ data_dir: 'x', resume_checkpoint: 'm.safetensors' });
    expect(usage(['--num', '3'])).toBe('ambiguous option: --num could match --num_channels, --num_res_blocks, --num_heads, --num_heads_upsample, --num_head_channels, --num_classes');
  });

  it('names an unknown flag and the closest ones', () => {
    expect(usage(['--imagesize', '32'])).toBe('unrecognized argument: --imagesize; did you mean --image_size?');
    expect(usage(['--learning_rate', '1'])).toBe('unrecognized argument: --learning_rate');
    expect(usage(['--ema-rate', '0.9'])).toBe('unrecognized argument: --ema-rate; did you mean --ema_rate?');
  });

  it('refuses a value of the wrong type, a missing value and a stray argument', () => {
    expect(usage(['--image_size', '32.5'])).toBe("argument --image_size: invalid int value: '32.5'");
    expect(usage(['--lr', 'fast'])).toBe("argument --lr: invalid float value: 'fast'");
    expect(usage(['--learn_sigma', 'maybe'])).toBe("argument --learn_sigma: boolean value expected (True/False, yes/no, 1/0), got 'maybe'");
    expect(usage(['--learn_sigma'])).toBe('argument --learn_sigma: expected one argument (True or False)');
    expect(usage(['--image_size', '--lr', '1'])).toBe('argument --image_size: expected one argument');
    expect(usage(['images'])).toBe('unrecognized arguments: images (every flag is --name value)');
  });

  it('asks for help with -h or --help anywhere', () => {
    expect(parseFlags(['--image_size', 'x', '--help'], train.flags)).toEqual({ help: true });
    const help = formatCommandHelp('train', train.script, train.description, train.flags);
    for (const f of train.flags) expect(help).toContain(`--${f.name} `);
    expect(help).toContain('--rescale_timesteps BOOL');
    expect(help).toMatch(/--lr FLOAT +AdamW learning rate \(default: 0\.0001\)/);
  });
});

describe("create_model_and_diffusion from the flags", () => {
  const defaults = (argv: string[]) => parse(argv);

  it("builds create_model's U-Net: channel_mult by image size, attention at image_size // resolution, 6 outputs with learn_sigma", () => {
    expect(unetConfigFromFlags(defaults(['--image_size', '32', '--learn_sigma', 'True', '--class_cond', 'True']))).toMatchObject({
      imageSize: 32, inChannels: 3, outChannels: 6, modelChannels: 128, numResBlocks: 2, channelMult: [1, 2, 2, 2],
      attentionResolutions: [2, 4], numHeads: 4, numHeadsUpsample: -1, useScaleShiftNorm: true, numClasses: 1000, learnSigma: true,
    });
    expect(unetConfigFromFlags(defaults(['--image_size', '256'])).channelMult).toEqual([1, 1, 2, 2, 4, 4]);
    expect(unetConfigFromFlags(defaults([])).channelMult).toEqual([1, 2, 3, 4]);
  });

  it('refuses an image size create_model has no channel_mult for, unless --channel_mult gives one', () => {
    expect(() => unetConfigFromFlags(defaults(['--image_size', '16']))).toThrow(/--channel_mult/);
    expect(unetConfigFromFlags(defaults(['--image_size', '16', '--channel_mult', '1,2', '--attention_resolutions', '8,4,2'])).attentionResolutions).toEqual([2]);
  });

  it("picks create_gaussian_diffusion's types and respaces by --timestep_respacing", () => {
    const d = diffusionFromFlags(defaults(['--learn_sigma', 'True', '--diffusion_steps', '4000', '--noise_schedule', 'cosine', '--timestep_respacing', 'ddim50']));
    expect([d.modelMeanType, d.modelVarType, d.lossType, d.rescaleTimesteps, d.numTimesteps, d.originalNumTimesteps]).toEqual(['epsilon', 'learned_range', 'rescaled_mse', true, 50, 4000]);
    const kl = diffusionFromFlags(defaults(['--use_kl', 'True', '--predict_xstart', 'True', '--sigma_small', 'True', '--rescale_timesteps', 'False']));
    expect([kl.modelMeanType, kl.modelVarType, kl.lossType, kl.rescaleTimesteps]).toEqual(['start_x', 'fixed_small', 'rescaled_kl', false]);
    const plain = diffusionFromFlags(defaults(['--rescale_learned_sigmas', 'False']));
    expect([plain.modelVarType, plain.lossType]).toEqual(['fixed_large', 'mse']);
  });

  it('names the flag when the process refuses it', () => {
    expect(() => diffusionFromFlags(defaults(['--diffusion_steps', '10']))).toThrow(/^argument --diffusion_steps with --noise_schedule linear: /);
    expect(() => diffusionFromFlags(defaults(['--timestep_respacing', 'ddim999']))).toThrow(/^argument --timestep_respacing: /);
    expect(() => diffusionFromFlags(defaults(['--noise_schedule', 'quadratic']))).toThrow("argument --noise_schedule: must be one of linear, cosine, scaled_linear, sigmoid, got 'quadratic'");
  });
});
