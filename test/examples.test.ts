// Runs the examples the way a user would (a child `node` process that imports the built package
// by its own name, 'difflib') at smoke size, and checks the numbers each prints on its RESULT line.
// The code blocks of README.md and docs/*.md that are example files are run here too (which
// blocks those are: test/doc-blocks.test.ts).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoiseSchedule, cosineAlphaBar, loadModelFile, namedBetaSchedule } from '../src/index';
import { useBackend } from './backends';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(root, 'examples', 'toy2d.mjs');

interface CloudStats {
  finite: number;
  mean: [number, number];
  std: [number, number];
  meanRadius: number;
  onRing: number;
  nearMode: number;
  modeShares: number[];
}

interface Toy2dResult {
  backend: string;
  steps: number;
  finalLoss: number;
  tensorsBeforeSampling: number;
  tensorsAfterSampling: number;
  tensorsAtEnd: number;
  data: CloudStats;
  samples: CloudStats;
  respaced: (CloudStats & { steps: number }) | null;
  pngs: string[];
}

/** Runs the example with `args`; returns its stdout and the parsed `RESULT {json}` line. */
async function runToy2d(args: string[]): Promise<{ stdout: string; result: Toy2dResult }> {
  const { stdout } = await run(process.execPath, [example, ...args], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 120_000,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  expect(line, `no RESULT line in the output:\n${stdout}`).toBeDefined();
  return { stdout, result: JSON.parse(line!.slice('RESULT '.length)) as Toy2dResult };
}

function expectPng(file: string, width: number, height: number): PNG {
  expect(existsSync(file), `${file} missing`).toBe(true);
  const png = PNG.sync.read(readFileSync(file)); // throws on a corrupt file
  expect([png.width, png.height]).toEqual([width, height]);
  return png;
}

let outDir: string;

beforeAll(async () => {
  // The examples import 'difflib' itself, which resolves to dist/: (re)build it when it is
  // missing or older than its sources, so the tests never exercise stale code.
  await run(process.execPath, [path.join(root, 'scripts', 'ensure-built.mjs')], { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 });
  outDir = mkdtempSync(path.join(os.tmpdir(), 'difflib-toy2d-'));
}, 200_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('examples/toy2d.mjs', () => {
  it('trains on wasm, samples a ring like the data without leaking tensors, and writes the PNGs', async () => {
    const out = path.join(outDir, 'wasm');
    const { stdout, result } = await runToy2d(['--steps', '500', '--samples', '500', '--seed', '3', '--out', out]);

    expect(result.backend).toBe('wasm');
    expect(stdout).toMatch(/step +500\/500 +loss \d/); // progress is logged
    expect(Number.isFinite(result.finalLoss)).toBe(true);
    // At initialisation the ε-MSE is ~1; 500 steps bring it to ~0.3.
    expect(result.finalLoss).toBeLessThan(0.5);

    // No tensor leaks in the sampling loops: the live count is back where it started.
    expect(result.tensorsAfterSampling).toBe(result.tensorsBeforeSampling);
    expect(result.tensorsAtEnd).toBe(result.tensorsBeforeSampling);

    for (const cloud of [result.samples, result.respaced!]) {
      expect(cloud.finite).toBe(1);
      for (const axis of [0, 1]) {
        // Spread like the data's (std ≈ 0.57), not like the N(0, I) the sampler starts from.
        expect(cloud.std[axis]! / result.data.std[axis]!).toBeGreaterThan(1 / 1.5);
        expect(cloud.std[axis]! / result.data.std[axis]!).toBeLessThan(1.5);
        expect(Math.abs(cloud.mean[axis]!)).toBeLessThan(0.15);
      }
      // The data is a ring of radius 0.8; N(0, I) has mean radius 1.25 and only 23% of
      // its mass within 0.2 of the ring (500 steps give ~0.8–0.9), and ~7% within 3σ of
      // one of the 8 modes (500 steps: ~0.3; the default 3000: ~0.94).
      expect(Math.abs(cloud.meanRadius - result.data.meanRadius)).toBeLessThan(0.15);
      expect(cloud.onRing).toBeGreaterThan(0.6);
      expect(cloud.nearMode).toBeGreaterThan(0.15);
    }
    expect(result.respaced!.steps).toBe(50);

    const samplesPng = expectPng(path.join(out, 'toy2d-samples.png'), 512, 512);
    expectPng(path.join(out, 'toy2d-samples-respaced.png'), 512, 512);
    expectPng(path.join(out, 'toy2d-trajectory.png'), 5 * 256, 256);
    // Both point clouds were drawn: some pixels are reddish (samples), some bluish (data).
    let red = 0;
    let blue = 0;
    for (let i = 0; i < samplesPng.data.length; i += 4) {
      const [r, g, b] = [samplesPng.data[i]!, samplesPng.data[i + 1]!, samplesPng.data[i + 2]!];
      if (r > b + 60 && r > g + 60) red++;
      if (b > r + 60) blue++;
    }
    expect(red).toBeGreaterThan(500);
    expect(blue).toBeGreaterThan(100);
  }, 180_000); // ~15 s alone; generous for a busy 2-core machine running other test files

  it('runs on the cpu backend too (tiny)', async () => {
    const out = path.join(outDir, 'cpu');
    const { result } = await runToy2d([
      '--backend', 'cpu', '--steps', '10', '--batch', '64', '--samples', '100',
      '--width', '32', '--timesteps', '20', '--no-respaced', '--out', out,
    ]);
    expect(result.backend).toBe('cpu');
    expect(result.samples.finite).toBe(1);
    expect(result.respaced).toBeNull();
    expect(result.tensorsAfterSampling).toBe(result.tensorsBeforeSampling);
    expectPng(path.join(out, 'toy2d-samples.png'), 512, 512);
  }, 120_000);

  it('rejects a bad flag with a non-zero exit and a message', async () => {
    await expect(run(process.execPath, [example, '--backend', 'webgpu'], { cwd: root })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--backend must be wasm or cpu'),
    });
  });
});

describe('examples/digits.mjs', () => {
  const digits = path.join(root, 'examples', 'digits.mjs');
  const runDigits = async (args: string[]) => {
    const { stdout } = await run(process.execPath, [digits, ...args], { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 });
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, `no RESULT line in the output:\n${stdout}`).toBeDefined();
    return { stdout, result: JSON.parse(line!.slice('RESULT '.length)) as { steps: number; finalLoss: number; bpd: { bpd: number; examples: number }; pngs: string[] } };
  };

  it('trains a U-Net on MNIST digits, resumes from its checkpoint, samples both ways and reports bits/dim', async () => {
    const out = path.join(outDir, 'digits');
    const tiny = ['--timesteps', '4', '--batch', '4', '--samples', '4', '--bpd-examples', '2', '--save-every', '1', '--out', out];
    const first = await runDigits(['--steps', '2', ...tiny]);
    expect(first.result.steps).toBe(2);
    // wasm on every core (at most 8): tfjs-backend-wasm's threaded build, through difflib/node.
    const threads = Math.min(8, os.availableParallelism());
    expect(first.stdout).toContain(`wasm (${threads} thread${threads === 1 ? '' : 's'})`);
    expect(existsSync(path.join(out, 'checkpoint', 'checkpoint'))).toBe(true);
    const resumed = await runDigits(['--steps', '3', '--resume', ...tiny]);
    expect(resumed.stdout).toMatch(/from step 2 to 3/);
    expect(resumed.result.steps).toBe(3);
    expect(Number.isFinite(resumed.result.finalLoss)).toBe(true);
    // Bits/dim of 8-bit data: positive, and below the 8 bits of a uniform model only once trained;
    // untrained, a few bits above or below is all that can be said.
    expect(resumed.result.bpd.examples).toBe(2);
    expect(resumed.result.bpd.bpd).toBeGreaterThan(0);
    expect(Number.isFinite(resumed.result.bpd.bpd)).toBe(true);
    // 4 digits in a 2×2 grid of 16·4 px cells with a 1 px border; the denoising strip is
    // 2 rows (x_t, x̂_0) of min(8, steps) = 4 cells.
    const [full, fast, strip] = resumed.result.pngs;
    for (const file of [full!, fast!]) expectPng(file, 2 * 66, 2 * 66);
    expect(path.basename(strip!)).toBe('denoising.png');
    expectPng(strip!, 4 * 66, 2 * 66);
    // Its model file rebuilds the U-Net and the process it was trained with.
    await useBackend('cpu');
    const { unet, diffusion, metadata } = loadModelFile(readFileSync(path.join(out, 'model.safetensors')));
    expect(unet.config.imageSize).toBe(16);
    expect(diffusion!.numTimesteps).toBe(4);
    expect(JSON.parse(metadata.difflib!).trainedSteps).toBe(3);
    unet.dispose();
  }, 240_000);
});

describe('examples/paper-small.mjs', () => {
  it('runs digits.mjs with each objective and tabulates their bits/dim and sample distances', async () => {
    const out = path.join(outDir, 'paper-small');
    const tiny = ['--steps', '2', '--timesteps', '4', '--batch', '4', '--samples', '4', '--bpd-examples', '2', '--out', out];
    type Run = { objective: string; steps: number; bpd: { bpd: number }; nearestTestRms: { full: number; fast: number }; model: string };
    const { stdout, result } = await runExample<{ results: Record<string, Run> }>('paper-small.mjs', tiny, 240_000);
    expect(Object.keys(result.results).sort()).toEqual(['hybrid', 'simple', 'vlb']);
    for (const [objective, r] of Object.entries(result.results)) {
      expect(r.objective).toBe(objective);
      expect(r.steps).toBe(2);
      expect(Number.isFinite(r.bpd.bpd)).toBe(true);
      // RMS distance of images in [−1, 1]: between 0 and 2.
      for (const d of [r.nearestTestRms.full, r.nearestTestRms.fast]) {
        expect(d).toBeGreaterThan(0);
        expect(d).toBeLessThan(2);
      }
      expect(existsSync(r.model)).toBe(true);
      expect(stdout).toContain(`[${objective}] digits:`);
    }
    // Fixed variances need no v channel: simple's U-Net outputs ε only, so its file is smaller.
    expect(statSync(result.results.simple!.model).size).toBeLessThan(statSync(result.results.hybrid!.model).size);
    const table = readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(table.split('\n').filter((l) => l.startsWith('| ('))).toHaveLength(3);
  }, 300_000);
});

/** Runs examples/<name> with `args` (from the repo root, as a user would); returns stdout and its `RESULT {json}`. */
async function runExample<R>(name: string, args: string[], timeout = 120_000): Promise<{ stdout: string; result: R }> {
  const { stdout } = await run(process.execPath, [path.join(root, 'examples', name), ...args], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
    timeout,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  expect(line, `no RESULT line in the output:\n${stdout}`).toBeDefined();
  return { stdout, result: JSON.parse(line!.slice('RESULT '.length)) as R };
}

describe('examples/getting-started.mjs', () => {
  it('trains its tiny model and samples a ring like the data (radius 0.8), not N(0, I)', async () => {
    const { stdout, result } = await runExample<{ steps: number; meanRadius: number; onRing: number }>('getting-started.mjs', ['400']);
    expect(stdout).toMatch(/step 400: loss \d/);
    expect(result.steps).toBe(400);
    // N(0, I) has mean radius 1.25 and 18% of its mass within 0.15 of the ring; 400 steps
    // give ~0.72 and ~0.37 (the default 2000: ~0.75 and ~0.84).
    expect(Math.abs(result.meanRadius - 0.8)).toBeLessThan(0.15);
    expect(result.onRing).toBeGreaterThan(0.3);
  }, 120_000);
});

describe('examples/schedule-plot.mjs', () => {
  interface Curve { name: string; first: number; middle: number; last: number; halfLifeFraction: number }
  interface PlotResult { timesteps: number; svg: string; box: { left: number; top: number; width: number; height: number }; curves: Curve[] }

  it('writes an SVG whose polylines trace ᾱ_t of the linear and cosine schedules from ᾱ_0 ≈ 1 to ᾱ_{T−1}', async () => {
    const file = path.join(outDir, 'schedules.svg');
    const { result } = await runExample<PlotResult>('schedule-plot.mjs', ['--out', file]);
    expect(result.timesteps).toBe(1000);
    const svg = readFileSync(file, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const { left, top, width, height } = result.box;
    for (const name of ['linear', 'cosine'] as const) {
      const alphaBar = NoiseSchedule.named(name, 1000).alphasCumprod();
      const match = new RegExp(`<polyline data-schedule="${name}"[^>]* points="([^"]+)"`).exec(svg);
      expect(match, `no polyline for ${name}`).not.toBeNull();
      // Back from SVG units: x = left + (t/T)·width, y = top + (1 − ᾱ_t)·height (rounded to 1e-3).
      const points = match![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
      expect(points).toHaveLength(1000);
      const toAlphaBar = ([, y]: [number, number]) => 1 - (y - top) / height;
      const toFraction = ([x]: [number, number]) => (x - left) / width;
      expect(toAlphaBar(points[0]!)).toBeGreaterThan(0.9998); // ᾱ_0 = 1 − β_0 (1 − 1e-4 for linear)
      expect(Math.abs(toAlphaBar(points[0]!) - alphaBar[0]!)).toBeLessThan(1e-5);
      expect(Math.abs(toAlphaBar(points[999]!) - alphaBar[999]!)).toBeLessThan(1e-5);
      expect(Math.abs(toAlphaBar(points[500]!) - alphaBar[500]!)).toBeLessThan(1e-5);
      expect(toFraction(points[0]!)).toBeCloseTo(0, 5);
      expect(toFraction(points[999]!)).toBeCloseTo(0.999, 5);
      const curve = result.curves.find((c) => c.name === name)!;
      expect(curve.first).toBe(alphaBar[0]);
      expect(curve.last).toBe(alphaBar[999]);
    }
    // Figure 5 of Improved DDPM: the linear schedule has lost half its signal variance by
    // t ≈ 0.26 T, the cosine one only at the middle; at the end both are ~0.
    const [linear, cosine] = ['linear', 'cosine'].map((n) => result.curves.find((c) => c.name === n)!);
    expect(linear!.halfLifeFraction).toBeCloseTo(0.259, 3);
    expect(cosine!.halfLifeFraction).toBeCloseTo(0.496, 3);
    expect(linear!.last).toBeLessThan(1e-4);
    expect(cosine!.last).toBeLessThan(1e-8);
  });
});

describe('examples/fast-sampling.mjs', () => {
  interface Scores { finite: number; mmd: number; spreadRatio: number; nearMode: number; modeTV: number }
  interface Run extends Scores { name: string; modelCalls: number; seconds: number }
  interface FastResult { runs: Run[]; data: Scores; noise: Scores; tensorsBefore: number; tensorsAfter: number; png: string }

  it('samples the exact mixture model with every sampler, close to the data, and writes the side-by-side PNG', async () => {
    const out = path.join(outDir, 'fast-sampling');
    const { result } = await runExample<FastResult>('fast-sampling.mjs', [
      '--samples', '200', '--timesteps', '100', '--respaced', '20', '--ddim', '20', '--dpm', '10', '--out', out,
    ]);
    expect(result.runs.map((r) => [r.name, r.modelCalls])).toEqual([
      ['ancestral-100', 100], ['ancestral-20', 20], ['ddim-20', 20], ['dpm-solver-10', 10], ['dpm-solver-10-quadratic', 10],
    ]);
    // x_T itself is far from the mixture (MMD ~0.27, 5% near a mode); fresh data is at the noise floor.
    expect(result.noise.mmd).toBeGreaterThan(0.2);
    expect(result.noise.nearMode).toBeLessThan(0.2);
    expect(Math.abs(result.data.mmd)).toBeLessThan(0.08);
    for (const r of result.runs) {
      expect(r.finite, r.name).toBe(1);
      expect(r.mmd, r.name).toBeLessThan(0.5 * result.noise.mmd);
      expect(r.nearMode, r.name).toBeGreaterThan(0.7);
      expect(r.spreadRatio, r.name).toBeGreaterThan(0.4);
      expect(r.spreadRatio, r.name).toBeLessThan(1.6);
      expect(r.modeTV, r.name).toBeLessThan(0.2);
      expect(r.seconds, r.name).toBeGreaterThan(0);
    }
    const byName = Object.fromEntries(result.runs.map((r) => [r.name, r]));
    // All 100 steps with the exact model: nearly every point on a mode, MMD at the noise floor.
    expect(byName['ancestral-100']!.nearMode).toBeGreaterThan(0.95);
    expect(byName['ancestral-100']!.mmd).toBeLessThan(0.06);
    // DPM-Solver's few steps spaced evenly leave a quarter of the points between modes
    // (one big last step); the quadratic grid, dense at low noise, puts them back.
    expect(byName['dpm-solver-10-quadratic']!.nearMode).toBeGreaterThan(byName['dpm-solver-10']!.nearMode + 0.1);
    expect(result.tensorsAfter).toBe(result.tensorsBefore);

    const png = expectPng(path.join(out, 'fast-sampling.png'), 6 * 320, 320);
    // Every sampler panel (1–5) has red sample dots.
    for (let panel = 1; panel <= 5; panel++) {
      let red = 0;
      for (let y = 0; y < 320; y++) {
        for (let x = panel * 320; x < (panel + 1) * 320; x++) {
          const i = 4 * (y * png.width + x);
          if (png.data[i]! > png.data[i + 2]! + 60 && png.data[i]! > png.data[i + 1]! + 60) red++;
        }
      }
      expect(red, `panel ${panel}`).toBeGreaterThan(200);
    }
  }, 120_000);
});

describe('examples/nll.mjs', () => {
  interface Row { name: string; steps: number; bpd: number; standardError: number; gap: number; decoderBpd: number; priorBpd: number }
  interface NllResult { trueBpd: number; empiricalTrueBpd: number; std: number; rows: Row[]; tensorsBefore: number; tensorsAfter: number }

  it('bounds the NLL of discretised Gaussian data from above, within a few hundredths of a bit with the exact variances', async () => {
    const { result } = await runExample<NllResult>('nll.mjs', ['--timesteps', '100', '--examples', '32']);
    // The entropy of N(0, 0.25²) on 256 bins of width 2/255: ≈ ½log₂(2πe s²) + log₂(127.5) = 7.0415.
    expect(Math.abs(result.trueBpd - (0.5 * Math.log2(2 * Math.PI * Math.E * result.std ** 2) + Math.log2(127.5)))).toBeLessThan(1e-3);
    const byName = Object.fromEntries(result.rows.map((r) => [r.name, r]));
    expect(Object.keys(byName)).toEqual(['learned_range', 'fixed_small', 'fixed_large', 'learned_range-10']);
    for (const exact of [byName.learned_range!, byName['learned_range-10']!]) {
      // E[bound] ≥ H: the mean over 32 images is above H up to its standard error, and close.
      expect(exact.bpd, exact.name).toBeGreaterThan(result.trueBpd - 3 * exact.standardError);
      expect(exact.bpd - result.trueBpd, exact.name).toBeLessThan(3 * exact.standardError + 0.1);
      // Against −log₂ P of the same images the Monte-Carlo noise is smaller: within 0.1 bit.
      expect(Math.abs(exact.gap), exact.name).toBeLessThan(0.1);
    }
    // Fixed variances cost bits: β̃_t (fixed_small) about a bit, β_t (fixed_large) less.
    expect(byName.fixed_small!.gap).toBeGreaterThan(0.5);
    expect(byName.fixed_large!.bpd).toBeGreaterThan(byName.learned_range!.bpd);
    expect(byName.fixed_large!.bpd).toBeLessThan(byName.fixed_small!.bpd);
    for (const r of result.rows) {
      expect(r.decoderBpd, r.name).toBeGreaterThan(0);
      expect(r.priorBpd, r.name).toBeLessThan(1e-4); // the cosine schedule ends at ᾱ ≈ 0
    }
    expect(result.tensorsAfter).toBe(result.tensorsBefore);
  }, 120_000);
});

describe('examples/import-torch-weights.mjs', () => {
  interface ImportResult {
    parameters: number;
    referenceParameters: number | null;
    outputShape: number[];
    maxAbsError: number | null;
    scaledError: number | null;
    roundTripMaxDiff: number;
  }

  it('loads the improved-diffusion reference weights and matches the PyTorch output within 1e-4 of its scale', async () => {
    const { stdout, result } = await runExample<ImportResult>('import-torch-weights.mjs', []);
    expect(stdout).toContain('unet_improved.safetensors');
    expect(result.parameters).toBe(result.referenceParameters);
    expect(result.outputShape).toEqual([2, 8, 8, 6]);
    expect(result.scaledError!).toBeLessThan(1e-4);
    expect(result.maxAbsError!).toBeGreaterThan(0); // a real comparison: float32 sums in another order
    expect(result.roundTripMaxDiff).toBe(0); // exportTorchStateDict gives back the file's tensors
  });

  it('takes the weights path as an argument (guided-diffusion, scale-shift norm) and plain UNetModel kwargs', async () => {
    const guided = await runExample<ImportResult>('import-torch-weights.mjs', ['test/fixtures/reference/unet_guided_ssn.safetensors']);
    expect(guided.result.scaledError!).toBeLessThan(1e-4);
    expect(guided.result.parameters).toBe(guided.result.referenceParameters);

    // A user's config: just the kwargs, snake_case; no reference output to compare with.
    const config = path.join(outDir, 'kwargs.json');
    writeFileSync(config, JSON.stringify({
      in_channels: 3, model_channels: 32, out_channels: 6, num_res_blocks: 1, attention_resolutions: [2],
      dropout: 0, channel_mult: [1, 2], num_heads: 2, use_scale_shift_norm: false, use_checkpoint: false,
    }));
    const plain = await runExample<ImportResult>('import-torch-weights.mjs', [
      'test/fixtures/reference/unet_improved.safetensors', '--config', config, '--image-size', '8', '--backend', 'cpu',
    ]);
    expect(plain.result.outputShape).toEqual([2, 8, 8, 6]);
    expect(plain.result.scaledError).toBeNull();
    expect(plain.result.roundTripMaxDiff).toBe(0);
  }, 120_000);

  it('refuses weights that do not fit the config, naming the mis-shaped keys', async () => {
    await expect(
      run(process.execPath, [
        path.join(root, 'examples', 'import-torch-weights.mjs'),
        'test/fixtures/reference/unet_guided_ssn.safetensors', '--config', 'test/fixtures/reference/unet_improved.json',
      ], { cwd: root }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/loadTorchStateDict: weights does not match the U-Net \(no weight was changed\); mis-shaped keys: input_blocks\.1\.0\.emb_layers\.1\.weight/),
    });
  });
});

describe('examples/readme-use.mjs (the "Use" program of README.md)', () => {
  interface UseResult {
    backend: string;
    trainedLoss: number;
    untrainedLoss: number;
    samples: { shape: number[]; finite: boolean; min: number; max: number; barContrast: number[]; rowSpread: number[] };
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

  it('trains its U-Net on wasm, lowering the loss on fixed x_t, and samples images with vertical bars', async () => {
    const { stdout, result } = await runExample<UseResult>('readme-use.mjs', []);
    expect(result.backend).toBe('wasm');
    expect(stdout).toMatch(/step 30: loss \d/);
    // On the same x_t: the untrained U-Net (zero output layer: ε̂ = 0, v = 0) gives ~84, 30 steps ~6–8.
    expect(Number.isFinite(result.trainedLoss)).toBe(true);
    expect(result.trainedLoss).toBeLessThan(result.untrainedLoss / 4);
    const { samples } = result;
    expect(samples.shape).toEqual([4, 8, 8, 1]);
    expect(samples.finite).toBe(true);
    // The last DDIM step returns the clipped x̂_0.
    expect(samples.min).toBeGreaterThanOrEqual(-1);
    expect(samples.max).toBeLessThanOrEqual(1);
    // The data's columns differ (contrast 2) and its rows are equal (spread 0). The untrained
    // U-Net's samples are the other way round (contrast ~0.5–1.0, row spread ~1.0–1.5); after 30
    // steps the contrast is ~0.8–1.3 and the row spread ~0.2–0.5.
    expect(mean(samples.barContrast)).toBeGreaterThan(mean(samples.rowSpread));
  }, 120_000);
});

describe('the guides’ runnable blocks (examples/guides)', () => {
  const cosine = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const relativeError = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

  it('schedules-named.mjs: ᾱ at the middle of the 4000-step cosine schedule, and Stable Diffusion’s scaled_linear betas', async () => {
    type R = { cosineSteps: number; numTimesteps: number; middleAlphaBar: number; sd: number[] };
    const { result } = await runExample<R>('guides/schedules-named.mjs', []);
    expect([result.cosineSteps, result.numTimesteps]).toEqual([4000, 4000]);
    // β_i = 1 − ᾱ((i+1)/T)/ᾱ(i/T) telescopes: ᾱ_2000 = ᾱ(2001/4000)/ᾱ(0) (no β is clipped there).
    expect(relativeError(result.middleAlphaBar, cosine(2001 / 4000) / cosine(0))).toBeLessThan(1e-12);
    expect(result.sd).toHaveLength(1000);
    const [lo, hi] = [Math.sqrt(0.00085), Math.sqrt(0.012)];
    result.sd.forEach((beta, i) => expect(relativeError(beta, (lo + ((hi - lo) * i) / 999) ** 2)).toBeLessThan(1e-12));
    expect(result.sd[0]).toBeCloseTo(0.00085, 15);
    expect(result.sd[999]).toBeCloseTo(0.012, 15);
  });

  it('schedules-own-alpha-bar.mjs: betasForAlphaBar with cosineAlphaBar is the named cosine schedule; the shifted one adds more noise first', async () => {
    type R = { cosine: number[]; shifted: number[]; fromFunction: number[]; fromBetas: number[] };
    const { result } = await runExample<R>('guides/schedules-own-alpha-bar.mjs', []);
    expect(result.cosine).toEqual(Array.from(namedBetaSchedule('cosine', 1000)));
    expect(result.cosine[0]).toBe(Math.min(1 - cosineAlphaBar(1 / 1000) / cosineAlphaBar(0), 0.999));
    const shifted = (t: number) => Math.cos(((t + 0.02) / 1.02) * Math.PI / 2) ** 2;
    result.shifted.forEach((beta, i) => expect(relativeError(beta, Math.min(1 - shifted((i + 1) / 1000) / shifted(i / 1000), 0.999))).toBeLessThan(1e-9));
    expect(result.shifted[0]).toBeCloseTo(9.7e-5, 6);
    expect(result.cosine[0]).toBeCloseTo(4.1e-5, 6);
    expect(result.fromFunction).toEqual(result.cosine);
    expect(result.fromBetas).toEqual(result.shifted);
  });

  it('schedules-noise-schedule.mjs: ddim50 of 4000 keeps every 80th step, and snr is ᾱ/(1 − ᾱ) there', async () => {
    type R = { timestepMap: number[]; snr: number[]; abar: number[]; numTimesteps: number; diffusionTimestepMap: number[] };
    const { result } = await runExample<R>('guides/schedules-noise-schedule.mjs', []);
    expect(result.timestepMap).toEqual(Array.from({ length: 50 }, (_, j) => 80 * j));
    expect(result.abar).toHaveLength(4000);
    result.timestepMap.forEach((k, j) => expect(relativeError(result.snr[j]!, result.abar[k]! / (1 - result.abar[k]!))).toBeLessThan(1e-9));
    expect(result.numTimesteps).toBe(50);
    expect(result.diffusionTimestepMap).toEqual(result.timestepMap);
  });

  it('schedules-respacing.mjs: "10,15,20" keeps 10, 15 and 20 steps of the three sections; the quadratic grid is as the comment says', async () => {
    type R = { sections: number[]; quadraticTimestepMap: number[]; quadraticSteps: number };
    const { result } = await runExample<R>('guides/schedules-respacing.mjs', []);
    const steps = result.sections;
    expect(steps).toEqual([...new Set(steps)].sort((a, b) => a - b)); // sorted ascending, no repeats
    // 1000 steps in 3 sections: [0, 334), [334, 667), [667, 1000) (the first gets the extra step).
    expect([steps.filter((t) => t < 334).length, steps.filter((t) => t >= 334 && t < 667).length, steps.filter((t) => t >= 667).length]).toEqual([10, 15, 20]);
    expect([steps[0], steps.at(-1)]).toEqual([0, 999]);
    expect(result.quadraticSteps).toBe(20);
    expect(result.quadraticTimestepMap.slice(0, 4)).toEqual([0, 3, 11, 25]);
    expect(result.quadraticTimestepMap.slice(-2)).toEqual([897, 999]);
  });

  it('learned-variance-terms.mjs: loss = mse + vb, vb = L_t·T/1000, and each term’s gradient reaches only its own weight', async () => {
    type R = { loss: number[]; mse: number[]; vb: number[]; scaled: number[]; gradVb: number[]; gradMse: number[]; tensorsAtEnd: number };
    const { result } = await runExample<R>('guides/learned-variance-terms.mjs', []);
    expect(result.loss).toHaveLength(3);
    result.loss.forEach((loss, i) => expect(relativeError(loss, result.mse[i]! + result.vb[i]!)).toBeLessThan(1e-6));
    result.vb.forEach((vb, i) => expect(relativeError(vb, result.scaled[i]!)).toBeLessThan(1e-6));
    // The stop-gradient on the mean: exactly 0, not merely small.
    expect(result.gradVb[0]).toBe(0);
    expect(Math.abs(result.gradVb[1]!)).toBeGreaterThan(1e-3);
    expect(result.gradMse[1]).toBe(0);
    expect(Math.abs(result.gradMse[0]!)).toBeGreaterThan(1e-3);
    expect(result.tensorsAtEnd).toBe(0); // the block disposes everything it made
  });

  it('wasm-threads.mjs: registerThreadedWasmBackend({ threads: 2 }) gives the wasm backend two threads', async () => {
    const { result } = await runExample<{ backend: string; threads: number; sum: number }>('guides/wasm-threads.mjs', []);
    expect(result).toEqual({ backend: 'wasm', threads: 2, sum: 64 ** 3 });
  });
});

describe('examples/scheduler-comparison.mjs and the scheduler guide’s blocks', () => {
  interface Cell { error?: string; mmd: number; distance: number; diverged: number; modelCalls: number; sigmaMismatch?: number | null }
  interface Row { label: string; className: string | null; config?: Record<string, unknown>; steps: Record<string, Cell> }
  interface Box { left: number; top: number; width: number; height: number; xMin: number; xMax: number; yMin: number; yMax: number }
  interface Comparison {
    steps: number[];
    schedulers: string[];
    missing: string[];
    warnings: string[];
    mixture: { rows: Row[]; reference: { data: { mmd: number }; noise: { mmd: number } } };
    digits: { rows: Row[]; reference: { testDigits: number; noise: number } };
    tensorsBefore: number;
    tensorsAfter: number;
    files: { json: string; md: string; svg: string };
    plot: Box[];
  }
  const DIFFUSERS = [
    'DDPMScheduler', 'DDIMScheduler', 'PNDMScheduler', 'LCMScheduler', 'EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler',
    'HeunDiscreteScheduler', 'LMSDiscreteScheduler', 'KDPM2DiscreteScheduler', 'DPMSolverMultistepScheduler',
    'DPMSolverSinglestepScheduler', 'DEISMultistepScheduler', 'UniPCMultistepScheduler',
  ];

  it('samples the exact mixture and the digits U-Net with every registered scheduler and writes the JSON, the tables and the plot', async () => {
    const { SCHEDULER_CLASSES } = await import('../src/sampling/schedulers/from-config');
    const out = path.join(outDir, 'scheduler-comparison');
    const { result } = await runExample<Comparison>('scheduler-comparison.mjs', ['--quick', '--out', out], 240_000);
    const registered = DIFFUSERS.filter((name) => name in SCHEDULER_CLASSES);
    expect(result.schedulers).toEqual(registered); // found at run time, in diffusers' order
    expect(result.missing).toEqual(DIFFUSERS.filter((name) => !registered.includes(name)));
    expect(result.steps).toEqual([5, 10]);
    expect(result.warnings).toEqual([]);
    expect(result.tensorsAfter).toBe(result.tensorsBefore);
    const byLabel = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.label, r]));
    const [mixture, digits] = [byLabel(result.mixture.rows), byLabel(result.digits.rows)];
    for (const rows of [result.mixture.rows, result.digits.rows]) {
      // Each class with its defaults, variants, then improved-diffusion's ancestral sampler; every cell ran.
      expect(rows.filter((r) => r.label === r.className).map((r) => r.label)).toEqual(registered);
      expect(rows.at(-1)!.className).toBeNull();
      for (const row of rows) for (const n of result.steps) expect(row.steps[n]!.error, `${row.label}, ${n} steps`).toBeUndefined();
    }
    // The model's betas (cosine = squaredcos_cap_v2, T = 1000); DDPM takes the learned variance, the DPM-Solver drops it.
    for (const row of result.digits.rows.slice(0, -1)) expect(row.config).toMatchObject({ _class_name: row.className, num_train_timesteps: 1000, beta_schedule: 'squaredcos_cap_v2' });
    expect(digits['DDPMScheduler']!.config!['variance_type']).toBe('learned_range');
    expect(digits['DPMSolverMultistepScheduler']!.config!['variance_type']).toBe('learned_range');
    expect(digits['EulerDiscreteScheduler']!.config!['variance_type']).toBeUndefined();
    // One model call per step, two per Heun step but the last (2N − 1).
    for (const n of result.steps) {
      expect(mixture['DDIMScheduler']!.steps[n]!.modelCalls).toBe(n);
      expect(mixture['DPMSolverMultistepScheduler']!.steps[n]!.modelCalls).toBe(n);
      expect(digits['HeunDiscreteScheduler']!.steps[n]!.modelCalls).toBe(2 * n - 1);
    }
    // Quality: 10 DDIM steps with the exact model land far closer to the mixture than x_T (MMD ~0.09
    // against ~0.28 at 200 points), and the U-Net's digits far closer to test digits than noise (~0.59 against ~1.09).
    expect(mixture['DDIMScheduler']!.steps[10]!.mmd).toBeLessThan(0.5 * result.mixture.reference.noise.mmd);
    expect(digits['DDIMScheduler']!.steps[10]!.distance).toBeLessThan(result.digits.reference.noise - 0.3);
    expect(digits['DDIMScheduler']!.steps[10]!.distance).toBeGreaterThan(result.digits.reference.testDigits);
    // What docs/schedulers.md reports: from t = 999 (σ ≈ 2·10⁴) Heun's step diverges even with the exact
    // model, and starting below it does not; the U-Net's ε error there sends unclipped Euler to ±1000s.
    expect(mixture['HeunDiscreteScheduler']!.steps[5]!.diverged).toBeGreaterThan(0.5);
    expect(mixture['HeunDiscreteScheduler · leading, steps_offset 1']!.steps[5]!.diverged).toBe(0);
    expect(digits['EulerDiscreteScheduler']!.steps[10]!.diverged).toBeGreaterThan(0.5);
    expect(digits['DPMSolverMultistepScheduler · thresholding']!.steps[10]!.diverged).toBe(0);
    // The exact model's σ(t) is the scheduler's own σ_i at every t_i, but for linear against log-linear
    // interpolation of σ at fractional t (~2e-6 at 5 and 10 steps; 3e-4 at 50, where steps fall near t = 0).
    const mismatches = result.mixture.rows.flatMap((r) => Object.values(r.steps).map((c) => c.sigmaMismatch ?? 0));
    expect(Math.max(...mismatches)).toBeLessThan(1e-5);
    expect(mixture['EulerDiscreteScheduler']!.steps[5]!.sigmaMismatch).toBeGreaterThan(0); // fractional t: linear σ vs log-linear

    // The files: the JSON is the result; each row is in the three tables; the plot's lines read back to the numbers.
    const { files, plot, ...saved } = result;
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toEqual(saved);
    const md = readFileSync(files.md, 'utf8');
    for (const row of result.mixture.rows) expect(md.split(`| ${row.label} |`).length - 1, row.label).toBe(3);
    const svg = readFileSync(files.svg, 'utf8');
    // One line per row and panel, diverged cells left out.
    const drawn = (rows: Row[]) => rows.filter((row) => result.steps.some((n) => !row.steps[n]!.error && row.steps[n]!.diverged <= 0.01)).length;
    expect(svg.match(/<polyline /g)).toHaveLength(drawn(result.mixture.rows) + drawn(result.digits.rows));
    const readBack = (series: string, panel: number) => {
      const match = new RegExp(`<polyline data-series="${series}" data-panel="${panel}"[^>]* points="([^"]+)"`).exec(svg);
      const box = plot[panel]!;
      return match![1]!.split(' ').map((p) => {
        const [x, y] = p.split(',').map(Number) as [number, number];
        const logX = Math.log10(box.xMin) + ((x - box.left) / box.width) * (Math.log10(box.xMax) - Math.log10(box.xMin));
        return [10 ** logX, box.yMin + (1 - (y - box.top) / box.height) * (box.yMax - box.yMin)];
      });
    };
    const [mixtureLine, digitsLine] = [readBack('DDIMScheduler', 0), readBack('DDIMScheduler', 1)];
    result.steps.forEach((n, i) => {
      expect(mixtureLine[i]![0]).toBeCloseTo(n, 2);
      expect(Math.abs(mixtureLine[i]![1]! - mixture['DDIMScheduler']!.steps[n]!.mmd)).toBeLessThan(1e-4 * (plot[0]!.yMax - plot[0]!.yMin) + 1e-5);
      expect(Math.abs(digitsLine[i]![1]! - digits['DDIMScheduler']!.steps[n]!.distance)).toBeLessThan(1e-4 * (plot[1]!.yMax - plot[1]!.yMin) + 1e-5);
    });
  }, 300_000);

  it('the exact model’s noise level: ᾱ_t itself at an integer t, and at a fractional t the inverse of diffusers’ σ → t (log σ linear)', async () => {
    const lib = path.join(root, 'examples', 'lib', 'eight-gaussians.mjs');
    const { vpNoiseLevel } = (await import(lib)) as { vpNoiseLevel: (abar: Float32Array, t: number) => { alpha: number; sigma: number } };
    const { DDIMScheduler } = await import('../src/index');
    const { logSigmasF32, sigmaToT, sigmasOfAlphasCumprod } = await import('../src/sampling/schedulers/sigmas');
    const abar = new DDIMScheduler({ betaSchedule: 'squaredcos_cap_v2' }).alphasCumprod;
    for (const t of [0, 1, 500, 998, 999]) {
      expect(vpNoiseLevel(abar, t)).toEqual({ alpha: Math.sqrt(abar[t]!), sigma: Math.sqrt(1 - abar[t]!) });
    }
    const logSigmas = logSigmasF32(sigmasOfAlphasCumprod(abar));
    const sigmaAt = (t: number) => {
      const { alpha, sigma } = vpNoiseLevel(abar, t);
      expect(alpha * alpha + sigma * sigma).toBeCloseTo(1, 12); // VP: α² + σ_VP² = 1
      return sigma / alpha;
    };
    for (const t of [0.5, 12.25, 499.5, 749.25, 996.097, 998.9]) {
      expect(Math.abs(sigmaToT(sigmaAt(t), logSigmas) - t)).toBeLessThan(1e-3); // float32 weights in sigmaToT
      const [lo, hi] = [Math.floor(t), Math.floor(t) + 1];
      const w = t - lo;
      expect(Math.log(sigmaAt(t))).toBeCloseTo((1 - w) * Math.log(sigmaAt(lo)) + w * Math.log(sigmaAt(hi)), 10);
    }
  });

  it('schedulers-loop.mjs: the hand-written pipeline loop and sample() give the same samples, of the data’s spread', async () => {
    type R = { steps: number; timesteps: number[]; std: number[]; maxDifference: number; tensorsAtEnd: number };
    const { result } = await runExample<R>('guides/schedulers-loop.mjs', []);
    expect(result.steps).toBe(25);
    expect(result.timesteps.slice(0, 3)).toEqual([999, 959, 919]); // trailing: round(1000 − i·40) − 1
    expect(result.maxDifference).toBe(0);
    // Data N(0, 0.5²): 25 deterministic DDIM steps with the exact ε give std ~0.475 (2000 points: ±0.008).
    for (const s of result.std) {
      expect(s).toBeGreaterThan(0.44);
      expect(s).toBeLessThan(0.52);
    }
    expect(result.tensorsAtEnd).toBe(0);
  });

  it('schedulers-from-config.mjs: Stable Diffusion’s PNDM config loads (unknown clip_sample: false warned), converts to Euler, and use_karras_sigmas: true is refused', async () => {
    type R = {
      className: string;
      config: Record<string, unknown>;
      timesteps: number[];
      warnings: string[];
      euler: { config: Record<string, unknown>; timesteps: number[]; initNoiseSigma: number };
      refused: { code: string; argument: string };
    };
    const { result } = await runExample<R>('guides/schedulers-from-config.mjs', []);
    expect(result.className).toBe('PNDMScheduler');
    expect(result.config).toMatchObject({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, skip_prk_steps: true, set_alpha_to_one: false, steps_offset: 1 });
    expect(result.config).not.toHaveProperty('clip_sample');
    expect(result.config).not.toHaveProperty('_diffusers_version');
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/config\.clip_sample \(false\).*ignored/);
    // leading spacing, stride 20, offset 1; PLMS without PRK steps repeats its second timestep (diffusers).
    expect(result.timesteps.slice(0, 4)).toEqual([981, 961, 961, 941]);
    expect(result.timesteps.at(-1)).toBe(1);
    expect(result.euler.config).toMatchObject({ _class_name: 'EulerDiscreteScheduler', beta_schedule: 'scaled_linear', beta_start: 0.00085, steps_offset: 1, timestep_spacing: 'leading' });
    expect(result.euler.config).not.toHaveProperty('skip_prk_steps');
    expect(result.euler.timesteps).toEqual(Array.from({ length: 50 }, (_, i) => 981 - 20 * i));
    expect(result.euler.initNoiseSigma).toBeGreaterThan(13); // √(σ_981² + 1) with leading spacing
    expect(result.refused).toEqual({ code: 'UNKNOWN_OPTION', argument: 'config.use_karras_sigmas' });
  });
});
