/// <reference types="vite/client" />
/**
 * Loads the diffusers scheduler cases (test/fixtures/reference/schedulers, see its
 * SCHEMA.md) in Node and in the browser, and computes their deterministic model,
 * `softsign_q_v1`, on the host to the bit.
 */
import type { EncodedTensor } from '../reference/load';

export interface SchedulerCase {
  name: string;
  scheduler: string;
  description: string;
  config: Record<string, unknown>;
  inputs: {
    num_inference_steps: number;
    step_kwargs: Record<string, unknown>;
    model: { name: string; learned_variance: boolean };
    x_T: EncodedTensor;
    c: EncodedTensor;
    noise: { step_index: EncodedTensor; values: EncodedTensor };
  };
  outputs: Record<string, unknown> & {
    config_full: Record<string, unknown>;
    timesteps: EncodedTensor;
    init_noise_sigma: EncodedTensor;
    betas?: EncodedTensor;
    alphas_cumprod?: EncodedTensor;
    sample_init: EncodedTensor;
    num_steps: number;
    steps: Record<string, EncodedTensor | unknown[]>;
  };
  diagnostics: { final_rms: number; relative_sensitivity: number; max_abs_prev_sample: number };
}

interface SchedulerFile {
  schema_version: number;
  group: string;
  cases: SchedulerCase[];
}

const files = import.meta.glob<SchedulerFile>('../fixtures/reference/schedulers/*.json', { import: 'default' });

/** Every case of every scheduler file, by group (file name without .json). */
export async function loadSchedulerGroups(): Promise<Record<string, SchedulerCase[]>> {
  const out: Record<string, SchedulerCase[]> = {};
  for (const [key, load] of Object.entries(files)) {
    const file = await load();
    if (file.schema_version !== 1) throw new Error(`${key}: unsupported schema_version ${file.schema_version}`);
    out[file.group] = file.cases;
  }
  return out;
}

/** Decodes an encoded tensor's data (non-finite markers included) as float64 numbers. */
export function decode(v: unknown): Float64Array {
  const t = v as EncodedTensor;
  return Float64Array.from(t.data, (d) => (typeof d === 'number' ? d : d === 'NaN' ? NaN : d === 'Infinity' ? Infinity : -Infinity));
}

/**
 * The model `softsign_q_v1` of SCHEMA.md, every operation a float32 one:
 * out = x + (1 − t·0.001)·(c/2 − softsign(x)/4), plus v = softsign(x)·c channels with
 * learned variance (NHWC, 3 channels).
 */
export function softsignQ(x: ArrayLike<number>, c: ArrayLike<number>, t: number, learnedVariance: boolean): Float32Array {
  const f = Math.fround;
  const k = f(f(t) * f(0.001));
  const q = f(1 - k);
  const channels = 3;
  const out = new Float32Array(learnedVariance ? 2 * x.length : x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const s = f(xi / f(1 + Math.abs(xi)));
    const u = f(f(0.5 * c[i]!) - f(0.25 * s));
    const o = f(xi + f(q * u));
    if (!learnedVariance) out[i] = o;
    else {
      const pixel = Math.floor(i / channels);
      const ch = i % channels;
      out[pixel * 2 * channels + ch] = o;
      out[pixel * 2 * channels + channels + ch] = f(s * c[i]!);
    }
  }
  return out;
}
