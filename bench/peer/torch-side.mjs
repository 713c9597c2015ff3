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
 * The thread settings of PyTorch's BLAS (OpenBLAS, for its matmuls) tried for `threads`
 * intra-op threads: OpenBLAS on one thread while torch parallelises over the batch, or
 * OpenBLAS on as many threads as torch (which then compete for the cores).
 */
function blasSettings(threads) {
  const settings = [{ OPENBLAS_NUM_THREADS: '1' }];
  if (threads > 1) settings.push({ OPENBLAS_NUM_THREADS: String(threads) });
  return settings;
}

/**
 * PyTorch at its fastest on this machine: torch_bench.py once per BLAS setting
 * ({@link blasSettings}), each fully timed; the result holds every run (`candidates`) and,
 * per measurement, the fastest run's timing and the setting that won (`fastest`). The
 * output check runs with the first setting.
 * @param {Parameters<typeof runTorchBench>[0]} o
 */
export function runTorchBenchFastest(o) {
  const candidates = blasSettings(o.threads).map((env, i) => {
    process.stderr.write(`  BLAS ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    return { env, result: runTorchBench({ ...o, ...(i === 0 ? {} : { checkInput: undefined, checkOutput: undefined, exportOnnx: undefined }) }, env) };
  });
  const best = (key) => candidates.reduce((a, b) => (b.result[key].median < a.result[key].median ? b : a));
  const forward = best('forward_ms');
  const ddim = best('ddim_step_ms');
  const train = best('train_step_ms');
  return {
    ...candidates[0].result,
    forward_ms: forward.result.forward_ms,
    forward_images_per_s: forward.result.forward_images_per_s,
    ddim_step_ms: ddim.result.ddim_step_ms,
    train_step_ms: train.result.train_step_ms,
    peak_rss_forward_mb: forward.result.peak_rss_forward_mb,
    peak_rss_train_mb: train.result.peak_rss_train_mb,
    fastest: { forward: forward.env, ddim_step: ddim.env, train_step: train.env },
    candidates: candidates.map(({ env, result }) => ({ env, forward_ms: result.forward_ms, train_step_ms: result.train_step_ms })),
  };
}

/**
 * Runs torch_bench.py (progress on this process' stderr) and returns its JSON result.
 * @param {{ configJson: string, batch: number, threads: number, warmup: number, repeats: number,
 *   weights?: string, checkInput?: string, checkOutput?: string, exportOnnx?: string }} o - file paths and counts.
 * @param {Record<string, string>} [blasEnv] - BLAS thread settings (default: OpenBLAS on `threads`).
 */
export function runTorchBench(o, blasEnv = { OPENBLAS_NUM_THREADS: String(o.threads) }) {
  const args = [
    path.join(here, 'torch_bench.py'),
    '--config-json', o.configJson,
    '--batch', String(o.batch),
    '--threads', String(o.threads),
    '--warmup', String(o.warmup),
    '--repeats', String(o.repeats),
    ...(o.weights ? ['--weights', o.weights] : []),
    ...(o.checkInput ? ['--check-input', o.checkInput, '--check-output', o.checkOutput] : []),
    ...(o.exportOnnx ? ['--export-onnx', o.exportOnnx] : []),
  ];
  const run = spawnSync(PYTHON, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
    // Without it an OpenBLAS would use every core, whatever torch's thread count.
    env: { ...process.env, ...blasEnv },
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
