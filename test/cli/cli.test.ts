// `difflib train | sample | nll` end to end at tiny size: the built executable (dist/cli.js,
// spawned) for each command, and runCli in this process where the test compares runs or
// computes the expected numbers itself. Everything runs on single-threaded wasm, so runs
// in and out of this process do the same arithmetic.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main';
import { loadModelFile, readSafetensors } from '../../src/index';
import { readNpz } from './npz-reader';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'dist', 'cli.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'difflib-cli-'));
const data = path.join(work, 'images');
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The executable, as a user runs it. */
function spawnCli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, OPENAI_LOGDIR: path.join(work, 'default-log'), ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** runCli in this process (the same code, without a process start per run). */
async function inProcess(args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const env = { OPENAI_LOGDIR: path.join(work, 'default-log') };
  const code = await runCli(args, { out: { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, env, tty: false });
  return { code, stdout, stderr };
}

const MODEL = [
  '--image_size', '8', '--num_channels', '32', '--num_res_blocks', '1', '--channel_mult', '1,2', '--attention_resolutions', '4',
  '--num_heads', '2', '--diffusion_steps', '10', '--noise_schedule', 'cosine', '--learn_sigma', 'True', '--class_cond', 'True', '--num_classes', '2',
];
const RUN = ['--backend', 'wasm', '--threads', '1'];
const TRAIN = ['--data_dir', data, '--batch_size', '4', '--microbatch', '2', '--ema_rate', '0.9,0.99', '--save_interval', '2', '--log_interval', '1',
  '--schedule_sampler', 'loss-second-moment', '--seed', '5', ...MODEL, ...RUN];

/** Image k's pixels: smooth, different per image, 8-bit RGB. */
const pixel = (k: number, i: number) => (37 * k + 11 * (i % 24) + 5 * Math.floor(i / 24)) % 256;
const NAMES = Array.from({ length: 8 }, (_, k) => `${k % 2 ? 'cat' : 'dog'}_${k}.png`);

function newestIn(dir: string): number {
  return Math.max(...readdirSync(dir).map((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? newestIn(p) : statSync(p).mtimeMs;
  }));
}

beforeAll(() => {
  // dist/cli.js must be built from this source (it imports dist/index.js beside it).
  const inputs = Math.max(newestIn(path.join(root, 'src')), statSync(path.join(root, 'tsup.config.ts')).mtimeMs, statSync(path.join(root, 'package.json')).mtimeMs);
  if (!existsSync(bin) || !existsSync(path.join(root, 'dist', 'index.js')) || statSync(bin).mtimeMs < inputs) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
  mkdirSync(path.join(data, 'sub'), { recursive: true });
  NAMES.forEach((name, k) => {
    const png = new PNG({ width: 8, height: 8 });
    for (let i = 0; i < 64; i++) png.data.set([pixel(k, 3 * i), pixel(k, 3 * i + 1), pixel(k, 3 * i + 2), 255], 4 * i);
    // Two of them in a subfolder: the listing is recursive.
    writeFileSync(path.join(data, k >= 6 ? 'sub' : '', name), PNG.sync.write(png));
  });
}, 180_000);

const run = (name: string) => path.join(work, name);

describe('the build', () => {
  it('dist/cli.js is an executable that uses dist/index.js, and the library entries never load its image codecs', () => {
    const cli = readFileSync(bin, 'utf8');
    expect(cli.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    expect(cli).toMatch(/from "\.\/index\.js"/);
    // One DifflibError class and one set of layer registrations per process: the library's.
    expect(cli).not.toMatch(/class DifflibError|registerClass\(/);
    for (const entry of ['index.js', 'index.cjs', 'node.js', 'node.cjs']) {
      expect(readFileSync(path.join(root, 'dist', entry), 'utf8'), entry).not.toMatch(/pngjs|jpeg-js|omggif/);
    }
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ difflib: './dist/cli.js' });
  });
});

describe('difflib train', () => {
  it('the executable trains, logs as image_train.py and writes model, ema and opt checkpoints', async () => {
    const r = await spawnCli(['train', ...TRAIN, '--max_steps', '4', '--log_dir', run('full')]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    for (const line of ['Logging to', 'creating model and diffusion...', 'creating data loader...', '8 images, classes 0=cat 1=dog', 'training...', 'saving model 0...', 'saving model 0.99...']) {
      expect(r.stdout).toContain(line);
    }
    expect(r.stdout).toMatch(/\| grad_norm +\| [\d.e+-]+ +\|/);
    expect(r.stderr).toMatch(/train step 4\/4 \(100%\)/);
    expect(readdirSync(run('full')).sort()).toEqual([
      'ema_0.99_000002.safetensors', 'ema_0.99_000004.safetensors', 'ema_0.9_000002.safetensors', 'ema_0.9_000004.safetensors',
      'log.txt', 'model000002.safetensors', 'model000004.safetensors', 'opt000002', 'opt000004', 'progress.csv',
    ]);
    const rows = readFileSync(path.join(run('full'), 'progress.csv'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(5); // header + one row per step (log_interval 1)
    const header = rows[0]!.split(',');
    expect(header).toEqual(expect.arrayContaining(['step', 'samples', 'loss', 'mse', 'vb', 'grad_norm']));
    expect(rows.slice(1).map((row) => row.split(',')[header.indexOf('step')])).toEqual(['0', '1', '2', '3']);
    expect(rows.slice(1).map((row) => row.split(',')[header.indexOf('samples')])).toEqual(['4', '8', '12', '16']);
  }, 120_000);

  it('a run resumed from model000002 (its opt000002 beside it) writes the same step-4 files as one uninterrupted run', async () => {
    expect((await inProcess(['train', ...TRAIN, '--max_steps', '2', '--log_dir', run('part')])).code).toBe(0);
    const tensors = tf.memory().numTensors;
    const resumed = await inProcess(['train', ...TRAIN, '--max_steps', '4', '--log_dir', run('part'), '--resume_checkpoint', path.join(run('part'), 'model000002.safetensors')]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`loading optimizer state from checkpoint: ${path.join(run('part'), 'opt000002')}`);
    expect(tf.memory().numTensors).toBe(tensors);
    for (const file of ['model000002.safetensors', 'model000004.safetensors', 'ema_0.9_000004.safetensors', 'ema_0.99_000004.safetensors']) {
      expect(readFileSync(path.join(run('part'), file)).equals(readFileSync(path.join(run('full'), file))), file).toBe(true);
    }
  }, 120_000);

  it('without opt<step>/ beside it, continues from the weights and the EMA files there, counting and annealing from their step', async () => {
    mkdirSync(run('weights-only'));
    for (const file of ['model000004.safetensors', 'ema_0.9_000004.safetensors']) {
      writeFileSync(path.join(run('weights-only'), file), readFileSync(path.join(run('full'), file)));
    }
    const r = await inProcess(['train', ...TRAIN, '--max_steps', '5', '--lr_anneal_steps', '8', '--log_dir', run('fine-tune'),
      '--resume_checkpoint', path.join(run('weights-only'), 'model000004.safetensors')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`loading EMA from checkpoint: ${path.join(run('weights-only'), 'ema_0.9_000004.safetensors')}...`);
    const rows = readFileSync(path.join(run('fine-tune'), 'progress.csv'), 'utf8').trim().split('\n').map((row) => row.split(','));
    const at = (key: string) => Number(rows[1]![rows[0]!.indexOf(key)]);
    // improved-diffusion's step count and linear anneal: η(1 − 4/8) at step 4.
    expect([at('step'), at('samples')]).toEqual([4, 20]);
    expect(at('lr')).toBeCloseTo(1e-4 * (1 - 4 / 8), 12);
    // One EMA update from the loaded averages: θ_ema ← r·θ_ema + (1 − r)·θ; rate 0.99 had no file, so it started from the weights.
    const tensors = (dir: string, file: string) => readSafetensors(readFileSync(path.join(dir, file))).tensors;
    const [before, after] = [tensors(run('full'), 'model000004.safetensors'), tensors(run('fine-tune'), 'model000005.safetensors')];
    const [ema9, ema9Next, ema99Next] = [tensors(run('full'), 'ema_0.9_000004.safetensors'), tensors(run('fine-tune'), 'ema_0.9_000005.safetensors'), tensors(run('fine-tune'), 'ema_0.99_000005.safetensors')];
    let worst = 0;
    for (const [name, w] of after) {
      const [a, e9, e9n, e99n] = [before.get(name)!.data, ema9.get(name)!.data, ema9Next.get(name)!.data, ema99Next.get(name)!.data];
      w.data.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(e9n[i]! - (0.9 * e9[i]! + 0.1 * v)), Math.abs(e99n[i]! - (0.99 * a[i]! + 0.01 * v)));
      });
    }
    expect(worst).toBeLessThan(1e-6);
    expect(readdirSync(run('fine-tune'))).toContain('opt000005');
  }, 120_000);

  it('refuses resuming with flags that disagree with the checkpoint, naming the flag', async () => {
    const r = await inProcess(['train', ...TRAIN, '--num_res_blocks', '2', '--max_steps', '6', '--log_dir', run('bad'), '--resume_checkpoint', path.join(run('full'), 'model000004.safetensors')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--num_res_blocks: the model has 1, the flags give 2');
  });
});

describe('difflib sample', () => {
  it('the executable writes samples_NxHxWx3.npz as image_sample.py does (uint8 NHWC arr_0, int64 labels arr_1) and a PNG grid', async () => {
    const r = await spawnCli(['sample', ...MODEL, ...RUN, '--model_path', path.join(run('full'), 'ema_0.99_000004.safetensors'),
      '--num_samples', '5', '--batch_size', '4', '--use_ddim', 'True', '--timestep_respacing', 'ddim5', '--seed', '3', '--log_dir', run('samples')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created 4 samples\ncreated 8 samples\n');
    expect(r.stdout).toContain(`saving to ${path.join(run('samples'), 'samples_5x8x8x3.npz')}`);
    const npz = readNpz(path.join(run('samples'), 'samples_5x8x8x3.npz'));
    expect(Object.keys(npz)).toEqual(['arr_0', 'arr_1']);
    expect([npz['arr_0']!.descr, npz['arr_0']!.shape]).toEqual(['|u1', [5, 8, 8, 3]]);
    expect([npz['arr_1']!.descr, npz['arr_1']!.shape]).toEqual(['<i8', [5]]);
    expect(Array.from(npz['arr_1']!.data as BigInt64Array).every((y) => y === 0n || y === 1n)).toBe(true);
    const grid = PNG.sync.read(readFileSync(path.join(run('samples'), 'samples_5x8x8x3.png')));
    // ⌈√5⌉ = 3 columns, 2 rows of 8 px images enlarged 4× with 2 px gaps.
    expect([grid.width, grid.height]).toEqual([3 * 34 + 2, 2 * 34 + 2]);
  }, 120_000);

  // Unclipped: with clipping, diffusers' DDIM keeps the model's ε where improved-diffusion re-derives it from the clipped x̂_0.
  it('--scheduler DDIMScheduler gives the samples of --use_ddim True on the same steps (up to a level of rounding)', async () => {
    const common = [...MODEL, ...RUN, '--model_path', path.join(run('full'), 'model000004.safetensors'), '--num_samples', '4', '--batch_size', '4', '--timestep_respacing', 'ddim5', '--seed', '8', '--clip_denoised', 'False'];
    expect((await inProcess(['sample', ...common, '--use_ddim', 'True', '--log_dir', run('ddim')])).code).toBe(0);
    const r = await inProcess(['sample', ...common, '--scheduler', 'DDIMScheduler', '--log_dir', run('ddim-scheduler')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('DDIMScheduler, 5 steps');
    const [a, b] = [readNpz(path.join(run('ddim'), 'samples_4x8x8x3.npz')), readNpz(path.join(run('ddim-scheduler'), 'samples_4x8x8x3.npz'))];
    expect(b['arr_1']!.data).toEqual(a['arr_1']!.data);
    const diffs = Array.from(a['arr_0']!.data as Uint8Array, (v, i) => Math.abs(v - (b['arr_0']!.data as Uint8Array)[i]!));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
    expect(diffs.filter((d) => d > 0).length).toBeLessThan(diffs.length / 20);
  }, 60_000);

  it("--scheduler takes a diffusers scheduler_config.json (its num_train_timesteps must be --diffusion_steps) or a class name over the flags' schedule", async () => {
    // diffusers' squaredcos_cap_v2 is improved-diffusion's cosine schedule: the file and the class name must sample alike.
    const config = (T: number) => JSON.stringify({ _class_name: 'EulerDiscreteScheduler', num_train_timesteps: T, beta_schedule: 'squaredcos_cap_v2' });
    writeFileSync(path.join(work, 'euler.json'), config(10));
    writeFileSync(path.join(work, 'euler-1000.json'), config(1000));
    const common = ['sample', ...MODEL, ...RUN, '--model_path', path.join(run('full'), 'ema_0.9_000004.safetensors'), '--num_samples', '2', '--batch_size', '2', '--timestep_respacing', '3', '--seed', '4'];
    const fromFile = await inProcess([...common, '--scheduler', path.join(work, 'euler.json'), '--log_dir', run('euler-file')]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toContain('EulerDiscreteScheduler, 3 steps');
    expect((await inProcess([...common, '--scheduler', 'EulerDiscreteScheduler', '--log_dir', run('euler-name')])).code).toBe(0);
    const [a, b] = [run('euler-file'), run('euler-name')].map((d) => readNpz(path.join(d, 'samples_2x8x8x3.npz'))['arr_0']!.data as Uint8Array);
    expect(Math.max(...Array.from(a!, (v, i) => Math.abs(v - b![i]!)))).toBeLessThanOrEqual(1);
    const wrong = await inProcess([...common, '--scheduler', path.join(work, 'euler-1000.json'), '--log_dir', run('euler-file')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('has num_train_timesteps 1000, --diffusion_steps is 10');
  }, 60_000);

  it("reads improved-diffusion's torch.save state dicts, and names what disagrees with the flags as inferUNetConfig reads the weights", async () => {
    const pt = path.join(root, 'test', 'fixtures', 'torch', 'unet_fp32.pt');
    const flags = ['--image_size', '8', '--num_channels', '32', '--channel_mult', '1', '--attention_resolutions', '', '--num_heads', '1', '--use_scale_shift_norm', 'False', '--diffusion_steps', '20', '--timestep_respacing', '2', ...RUN, '--num_samples', '1', '--batch_size', '1', '--model_path', pt];
    const ok = await inProcess(['sample', ...flags, '--num_res_blocks', '1', '--log_dir', run('pt')]);
    expect(ok.code).toBe(0);
    expect(readNpz(path.join(run('pt'), 'samples_1x8x8x3.npz'))['arr_0']!.shape).toEqual([1, 8, 8, 3]);
    const wrong = await inProcess(['sample', ...flags, '--num_res_blocks', '2', '--log_dir', run('pt')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('missing keys: input_blocks.2.0.in_layers.0.weight');
    expect(wrong.stderr).toMatch(/The weights fit \(inferUNetConfig[^)]*\): --image_size 8 --num_channels 32 --num_res_blocks 1 --channel_mult 1 --attention_resolutions ""/);
  }, 60_000);
});

describe('difflib nll', () => {
  it('the executable prints image_nll.py\'s "done N samples: bpd=…", equal to calcBpdLoop on the same images and noise', async () => {
    const model = path.join(run('full'), 'model000004.safetensors');
    await tf.setBackend('wasm');
    const r = await spawnCli(['nll', ...MODEL, ...RUN, '--data_dir', data, '--model_path', model, '--num_samples', '4', '--batch_size', '4', '--seed', '11', '--log_dir', run('nll')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('evaluating...');
    expect(r.stdout).toContain('evaluation complete');
    const printed = Number(/done 4 samples: bpd=([\d.e+-]+)\n/.exec(r.stdout)![1]);

    // The first batch of the folder in listing order (sorted names, subfolders in place), with its classes.
    const order = [...NAMES.slice(0, 6)].sort().concat(NAMES.slice(6).sort()).slice(0, 4);
    const x = tf.tensor4d(order.flatMap((name) => Array.from({ length: 192 }, (_, i) => Math.fround(Math.fround(pixel(NAMES.indexOf(name), i) / 127.5) - 1))), [4, 8, 8, 3]);
    const y = tf.tensor1d(order.map((name) => (name.startsWith('cat') ? 0 : 1)), 'int32');
    const { unet, diffusion } = loadModelFile(readFileSync(model));
    const result = diffusion!.calcBpdLoop(unet.forward, x, { clipDenoised: true, seed: 11, modelKwargs: { y } });
    const expected = (await tf.mean(result.totalBpd).data())[0]!;
    const vb = await tf.mean(result.vb, 0).data();
    tf.dispose([x, y, result]);
    unet.dispose();
    expect(Math.abs(printed - expected)).toBeLessThan(1e-5 * expected);
    const terms = readNpz(path.join(run('nll'), 'vb_terms.npz'))['arr_0']!;
    expect(terms.shape).toEqual([10]);
    Array.from(vb).forEach((v, t) => expect(Math.abs((terms.data as Float32Array)[t]! - v)).toBeLessThan(1e-5 * Math.abs(v) + 1e-7));
    expect(existsSync(path.join(run('nll'), 'mse_terms.npz')) && existsSync(path.join(run('nll'), 'xstart_mse_terms.npz'))).toBe(true);
  }, 120_000);
});

describe('refusals: one message, no stack trace, exit code 2 for the command line, 1 for a failure', () => {
  it('the executable: --help, --version, and a mistyped flag', async () => {
    const help = await spawnCli(['--help']);
    expect([help.code, help.stdout]).toEqual([0, expect.stringContaining('usage: difflib <command>')]);
    const version = await spawnCli(['--version']);
    expect(version.stdout).toBe(`difflib ${JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version}\n`);
    const typo = await spawnCli(['train', '--imagesize', '8']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe("difflib train: error: unrecognized argument: --imagesize; did you mean --image_size?\nSee 'difflib train --help' for its flags.\n");
  }, 60_000);

  it.each([
    [['sample', ...MODEL], 2, 'difflib sample: error: the argument --model_path is required'],
    [['nll', '--data_dir', 'x', '--model_path', 'y', '--batch_size', 'two'], 2, "difflib nll: error: argument --batch_size: invalid int value: 'two'"],
    [['sample', '--model_path', 'm', '--backend', 'webgl'], 2, 'difflib sample: error: argument --backend: webgl runs in browsers'],
    [['train', '--data_dir', data, ...MODEL, ...RUN, '--batch_size', '9'], 2, `holds 8 images, fewer than --batch_size 9`],
    [['train', '--data_dir', data, '--schedule_sampler', 'importance'], 2, "argument --schedule_sampler: must be uniform or loss-second-moment, got 'importance'"],
    [['sample', ...MODEL, ...RUN, '--model_path', path.join(work, 'missing.pt')], 1, `difflib sample: --model_path "${path.join(work, 'missing.pt')}" cannot be read (ENOENT)`],
    [['frobnicate'], 2, "difflib: error: unknown command 'frobnicate'"],
  ] as const)('%j exits %i: %s', async (args, code, message) => {
    const r = await inProcess([...args]);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('says a model file was trained with other flags, and gives the flags that build it', async () => {
    const r = await inProcess(['sample', ...MODEL, ...RUN, '--num_channels', '64', '--predict_xstart', 'True', '--model_path', path.join(run('full'), 'model000004.safetensors')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--num_channels: the model has 32, the flags give 64');
    expect(r.stderr).toContain("--predict_xstart: the model's process predicts epsilon, the flags say start_x");
    expect(r.stderr).toContain("The model's U-Net is built by: --image_size 8 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 4 --learn_sigma True --class_cond True --num_classes 2 --num_heads 2");
  });

  it.skipIf(spawnSync(process.execPath, ['-e', "require.resolve('@tensorflow/tfjs-node')"]).status === 0)('refuses --backend tensorflow without @tensorflow/tfjs-node, saying how to get it', async () => {
    const r = await inProcess(['sample', ...MODEL, '--backend', 'tensorflow', '--model_path', 'm', '--log_dir', run('tfjs-node')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tensorflow needs @tensorflow/tfjs-node, which is not installed (npm install @tensorflow/tfjs-node)');
  });
});
