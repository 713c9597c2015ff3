// PyTorch's side of the comparison: finds Debian's torch and runs torch_bench.py.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's python3-torch lives here; the `python3` on PATH may be another interpreter without torch. */
export const PYTHON = '/usr/bin/python3';
const INSTALL = 'install it with `apt-get install -y python3-torch` (Debian/Ubuntu)';
const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Checks that PYTHON runs and imports torch.
 * @returns {string} torch's version.
 * @throws {Error} saying what is missing and how to install it.
 */
export function checkTorch() {
  if (!existsSync(PYTHON)) throw new Error(`bench:peer needs ${PYTHON} with PyTorch; ${PYTHON} does not exist: ${INSTALL}`);
  const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error?.message ?? probe.stderr.trim().split('\n').at(-1);
    throw new Error(`bench:peer needs PyTorch in ${PYTHON}, which cannot import torch (${why}): ${INSTALL}`);
  }
  return probe.stdout.trim();
}

/**
 * Runs torch_bench.py (progress on this process' stderr) and returns its JSON result.
 * @param {{ configJson: string, batch: number, threads: number, warmup: number, repeats: number,
 *   weights?: string, checkInput?: string, checkOutput?: string }} o - file paths and counts.
 */
export function runTorchBench(o) {
  const args = [
    path.join(here, 'torch_bench.py'),
    '--config-json', o.configJson,
    '--batch', String(o.batch),
    '--threads', String(o.threads),
    '--warmup', String(o.warmup),
    '--repeats', String(o.repeats),
    ...(o.weights ? ['--weights', o.weights] : []),
    ...(o.checkInput ? ['--check-input', o.checkInput, '--check-output', o.checkOutput] : []),
  ];
  const run = spawnSync(PYTHON, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
    // An OpenBLAS would otherwise use every core, whatever torch's thread count.
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(o.threads) },
  });
  if (run.error || run.status !== 0) {
    throw new Error(`torch_bench.py failed (${run.error?.message ?? `exit ${run.status}`}); its output is above`);
  }
  return JSON.parse(run.stdout.trim().split('\n').at(-1));
}

/**
 * Runs verify_reference.py: adm_unet against the golden improved-diffusion and
 * guided-diffusion U-Net cases of test/fixtures/reference.
 * @returns {Array<{ case: string, params: number, reference_params: number,
 *   output_max_abs_error: number, output_max_rel_error: number, blocks_max_rel_error: number, pass: boolean }>}
 */
export function runReferenceCheck() {
  const run = spawnSync(PYTHON, [path.join(here, 'verify_reference.py')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.error || (run.status !== 0 && run.status !== 1)) {
    throw new Error(`verify_reference.py failed (${run.error?.message ?? `exit ${run.status}`}); its output is above`);
  }
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line));
}
