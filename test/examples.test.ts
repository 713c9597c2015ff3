// Runs examples/toy2d.mjs the way a user would (a child `node` process that imports the
// built package by its own name, 'difflib') at smoke size, and checks what it produces.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(root, 'examples', 'toy2d.mjs');
const distEntry = path.join(root, 'dist', 'index.js');

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

/** Newest modification time of any file under dir. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : statSync(file).mtimeMs);
  }
  return newest;
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
  // The example imports 'difflib' itself, which resolves to dist/: (re)build it when it is
  // missing or older than the sources, so the test never exercises stale code.
  if (!existsSync(distEntry) || statSync(distEntry).mtimeMs < newestMtime(path.join(root, 'src'))) {
    await run('npm', ['run', 'build'], { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 });
  }
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
    // 4 digits in a 2×2 grid of 16·4 px cells with a 1 px border.
    for (const file of resumed.result.pngs) expectPng(file, 2 * 66, 2 * 66);
  }, 240_000);
});
