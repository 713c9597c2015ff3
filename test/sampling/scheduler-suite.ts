/**
 * Every diffusers scheduler case as a test, written once and run on each backend (cpu
 * and wasm in Node, webgl in Chromium): the scheduler built from its config with
 * `schedulerFromConfig`, its config, tables and timesteps, then the whole sampling loop
 * of SCHEMA.md on our own trajectory (no teacher forcing), every stored step array
 * compared.
 *
 * Tolerances (SCHEMA.md, "Precision"). Tables built on the host reproduce torch's
 * float32 arithmetic: betas and ᾱ must be bit-identical, integer timesteps exact; σs
 * and fractional timesteps come through numpy's float32 log/exp (not correctly rounded)
 * and may differ in the last ulp: relative 1e-6. Step arrays: |a − e| ≤ k·tol·scale with
 * tol = max(1e-5, 100·relative_sensitivity) of the case (its measured sensitivity to a
 * one-ulp change of x_T) and scale = max(rms of the expected array, final_rms): torch's
 * exp/log are SLEEF's (an ulp off for ~10% of arguments) where ours are correctly
 * rounded, and an ulp early in the loop moves later steps by about the sensitivity.
 * k is the backend's factor: 1 on cpu and wasm, larger for webgl's GPU arithmetic.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SCHEDULER_CLASSES } from '../../src/sampling/schedulers/from-config';
import { schedulerFromConfig, type Scheduler, type SchedulerStepOptions } from '../../src/index';
import { expectClose } from '../reference/compare';
import { decode, softsignQ, type SchedulerCase } from './scheduler-cases';

/** snake_case step kwargs → camelCase step options. */
function stepOptions(kwargs: Record<string, unknown>): SchedulerStepOptions {
  return Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
}

/** The config as JSON would hold it: -Infinity etc. as diffusers' JSON strings, arrays plain. */
function normalizeConfig(config: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))) as Record<string, unknown>;
}

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The rms of the finite values (a case that ends in NaN, as diffusers' UniPC bh1 does, still has a scale). */
function rms(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) continue;
    s += values[i]! * values[i]!;
    n++;
  }
  return n === 0 ? 0 : Math.sqrt(s / n);
}

/** Runs one case's loop, comparing as it goes. */
function runCase(c: SchedulerCase, factor: number): void {
  const before = tf.memory().numTensors;
  const scheduler: Scheduler = schedulerFromConfig({ _class_name: c.scheduler, ...c.config }, { warn: () => {} });
  const out = c.outputs;

  expect(normalizeConfig(scheduler.toConfig())).toEqual({ _class_name: c.scheduler, ...out.config_full });
  const tables = scheduler as unknown as { betas?: Float32Array; alphasCumprod?: Float32Array };
  if (out.betas) expect(Array.from(tables.betas!), 'betas').toEqual(Array.from(decode(out.betas)));
  if (out.alphas_cumprod) expect(Array.from(tables.alphasCumprod!), 'alphas_cumprod').toEqual(Array.from(decode(out.alphas_cumprod)));

  scheduler.setTimesteps(c.inputs.num_inference_steps);
  const timesteps = decode(out.timesteps);
  if (out.timesteps.dtype === 'int64') expect(Array.from(scheduler.timesteps), 'timesteps').toEqual(Array.from(timesteps));
  else expectClose(scheduler.timesteps, timesteps, { rtol: 1e-6, atol: 1e-6 }, 'timesteps');
  if (out.sigmas) expectClose(scheduler.sigmas!, decode(out.sigmas), { rtol: 1e-6, atol: 0 }, 'sigmas');
  expect(scheduler.initNoiseSigma).toBeCloseTo(decode(out.init_noise_sigma)[0]!, 4);
  expect(Math.abs(scheduler.initNoiseSigma / decode(out.init_noise_sigma)[0]! - 1)).toBeLessThan(1e-6);
  expect(scheduler.timesteps.length).toBe(out.num_steps);

  const shape = c.inputs.x_T.shape;
  const tol = factor * Math.max(1e-5, 100 * c.diagnostics.relative_sensitivity);
  // final_rms is NaN where diffusers' loop ends in NaN: the steps' own scale then stands alone.
  const finalRms = Number.isFinite(c.diagnostics.final_rms) ? c.diagnostics.final_rms : 0;
  const noiseSteps = Array.from(decode(c.inputs.noise.step_index));
  const noiseValues = decode(c.inputs.noise.values);
  const noiseSize = shape.reduce((a, b) => a * b, 1);
  const cValues = decode(c.inputs.c);
  const steps = out.steps;
  const compare = (key: string, i: number, actual: ArrayLike<number>) => {
    const expected = steps[key] as { shape: number[] } | undefined;
    if (!expected) return;
    const size = expected.shape.slice(1).reduce((a, b) => a * b, 1);
    const all = decode(expected);
    const want = all.subarray(i * size, (i + 1) * size);
    const scale = Math.max(rms(want), finalRms);
    expectClose(actual, want, { rtol: 0, atol: tol * scale }, `${c.name} step ${i} ${key}`);
  };

  const xT = tf.tensor(Float32Array.from(decode(c.inputs.x_T)), shape, 'float32');
  let sample = tf.mul(xT, scheduler.initNoiseSigma);
  xT.dispose();
  expectClose(sample.dataSync(), decode(out.sample_init), { rtol: 0, atol: tol * finalRms }, 'sample_init');
  const options = stepOptions(c.inputs.step_kwargs);
  const timestepList = Array.from(scheduler.timesteps);
  timestepList.forEach((t, i) => {
    const input = scheduler.scaleModelInput(sample, t);
    const inputValues = input.dataSync();
    compare('model_input', i, inputValues);
    const modelOutput = tf.tensor(softsignQ(inputValues, cValues, t, c.inputs.model.learned_variance), [...shape.slice(0, -1), (c.inputs.model.learned_variance ? 2 : 1) * shape[shape.length - 1]!], 'float32');
    compare('model_output', i, modelOutput.dataSync());
    const k = noiseSteps.indexOf(i);
    const noise = k >= 0 ? tf.tensor(Float32Array.from(noiseValues.subarray(k * noiseSize, (k + 1) * noiseSize)), shape, 'float32') : undefined;
    const result = scheduler.step(modelOutput, t, sample, { ...options, ...(noise ? { noise } : {}) }) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(steps)) {
      if (key === 'model_input' || key === 'model_output') continue;
      const got = result[camel(key)];
      if (got instanceof tf.Tensor) compare(key, i, got.dataSync());
      else if (typeof got === 'number' || typeof got === 'string') expect(got, `${c.name} step ${i} ${key}`).toEqual((value as unknown[])[i] ?? decode(value)[i]);
      else if (Array.isArray(got)) expect(got, `${c.name} step ${i} ${key}`).toEqual((value as unknown[])[i]); // e.g. LMS's lms_coeffs, exactly
    }
    expect(result.prevSample, 'step returns prevSample').toBeInstanceOf(tf.Tensor);
    if (input !== sample) input.dispose();
    tf.dispose([sample, modelOutput, ...(noise ? [noise] : [])]);
    for (const [key, value] of Object.entries(result)) if (key !== 'prevSample' && value instanceof tf.Tensor) value.dispose();
    sample = result.prevSample as tf.Tensor;
  });
  sample.dispose();
  scheduler.dispose();
  expect(tf.memory().numTensors, 'tensors left after the loop').toBe(before);
}

/**
 * A describe block per scheduler group of `groups` that difflib implements, a test per
 * case. `factor` scales the step tolerances (1 on cpu and wasm).
 */
export function defineSchedulerSuite(groups: Record<string, SchedulerCase[]>, factor = 1): void {
  for (const [group, cases] of Object.entries(groups).sort()) {
    const className = cases[0]!.scheduler;
    if (!Object.hasOwn(SCHEDULER_CLASSES, className)) continue;
    describe(`${className} (${group}.json)`, () => {
      for (const c of cases) it(c.name, () => runCase(c, factor));
    });
  }
}
