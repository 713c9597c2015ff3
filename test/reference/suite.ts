/**
 * Every public reference case of improved-diffusion as a test, written once and run
 * on each backend (cpu and wasm in Node, webgl in Chromium).
 *
 * Tolerances. The reference computes in float64 (its `outputs_f64` keep every
 * per-step coefficient in float64, as difflib's tables do, and are preferred where
 * present); difflib computes in float32 on the device. Inputs are rounded to float32
 * (relative error 6e-8) and each float32 op adds about as much, so agreement is
 * judged relative to each output's scale: |a − e| ≤ k·(atol + rtol·|e|), where k is
 * the backend's factor (1 for cpu and wasm; see the browser suite for webgl).
 * - Default: rtol 2e-5, atol 2e-6·max(1, max|e|): a few float32 roundings amplified
 *   by coefficients up to ~10. (cpu and wasm measure at most a third of this.)
 * - x̂_0 = √(1/ᾱ)·x_t − √(1/ᾱ−1)·ε and everything derived from it (samples, losses,
 *   bits/dim): at large t on the cosine schedule √(1/ᾱ) reaches ~1e4, so the float32
 *   rounding of x_t alone moves x̂_0 by ~1e-3 before clipping; atol is 2e-5 of scale.
 * - Schedules are float64 on both sides: rtol 1e-12 (libm and V8 may differ by an ulp).
 * - Reference outputs stored as float32 (fixed variances) are float32-rounded already.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DifflibError,
  GaussianDiffusion,
  LossSecondMomentResampler,
  UniformSampler,
  approxStandardNormalCdf,
  discretizedGaussianLogLikelihood,
  namedBetaSchedule,
  normalKl,
  spaceTimesteps,
  timestepEmbedding,
  type DiffusionModel,
  type LossType,
  type ModelMeanType,
  type ModelVarType,
  type TimestepsInput,
} from '../../src/index';
import { expectClose, type Tolerance } from './compare';
import { channelsLast, isTensor, values, type RefCase, type RefValue } from './load';

export type ReferenceGroups = Record<string, RefCase[]>;

/** The groups this suite covers (every group but the U-Net's). */
export const DIFFUSION_GROUPS = [
  'schedules',
  'q_functions',
  'p_mean_variance',
  'training_losses',
  'losses',
  'vb_bpd',
  'respace',
  'sampling',
  'resample',
  'timestep_embedding',
] as const;

/** Scale factor on every float32 tolerance, per backend. */
let backendFactor = 1;

const DEFAULT_TOL = (expected: ArrayLike<number>, scale = 2e-6): Tolerance => ({
  rtol: 2e-5 * backendFactor,
  atol: scale * backendFactor * Math.max(1, maxAbs(expected)),
});

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** atol scale for outputs downstream of x̂_0 (see the header). */
const AMPLIFIED = 2e-5;

/** How timesteps are handed to the process: both forms must give the same numbers. */
type TimestepForm = 'array' | 'tensor';

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function buildDiffusion(config: Record<string, RefValue>): GaussianDiffusion {
  const respacing = config.timestep_respacing;
  return new GaussianDiffusion({
    betas: namedBetaSchedule(config.schedule as 'linear' | 'cosine', config.num_diffusion_timesteps as number),
    modelMeanType: String(config.model_mean_type ?? 'EPSILON').toLowerCase() as ModelMeanType,
    modelVarType: String(config.model_var_type ?? 'FIXED_SMALL').toLowerCase() as ModelVarType,
    lossType: String(config.loss_type ?? 'MSE').toLowerCase() as LossType,
    rescaleTimesteps: (config.rescale_timesteps as boolean | undefined) ?? false,
    ...(typeof respacing === 'string' ? { useTimesteps: respacing } : {}),
  });
}

/** An NCHW reference tensor as an NHWC float32 tf.Tensor. */
function input(v: RefValue | undefined, channelAxis = 1): tf.Tensor {
  const { shape, data } = channelsLast(v, channelAxis);
  return tf.tensor(Float32Array.from(data), shape, 'float32');
}

/** The expected values of an output, NHWC. */
function expected(v: RefValue | undefined): Float64Array {
  return channelsLast(v).data;
}

/** The case's timesteps in the given form; a tensor is handed to `keep` for disposal. */
function timesteps(v: RefValue | undefined, form: TimestepForm, keep: <T extends tf.Tensor>(t: T) => T): TimestepsInput {
  const t = Array.from(values(v));
  return form === 'array' ? t : keep(tf.tensor1d(t, 'int32'));
}

/**
 * The reference's model stand-in: a constant function returning the stored output
 * (a fresh tensor per call; the process disposes it), recording what it was called with.
 */
function constantModel(output: RefValue | undefined): { model: DiffusionModel; received: { t: number[]; x: Float32Array }[] } {
  const received: { t: number[]; x: Float32Array }[] = [];
  const { shape, data } = channelsLast(output);
  const model: DiffusionModel = (x, t) => {
    received.push({ t: Array.from(t.dataSync()), x: x.dataSync() as Float32Array });
    return tf.tensor(Float32Array.from(data), shape, 'float32');
  };
  return { model, received };
}

/** Prefer the float64-coefficient outputs (what difflib's float64 tables compute). */
function reference(c: RefCase, key: string): RefValue | undefined {
  return c.outputs_f64?.[key] ?? c.outputs[key];
}

function check(actual: tf.Tensor, c: RefCase, key: string, scale?: number): void {
  const e = expected(reference(c, key));
  expect(actual.shape, `${key}: shape`).toEqual(channelsLast(reference(c, key)).shape);
  expectClose(actual.dataSync(), e, DEFAULT_TOL(e, scale), `${c.name}.${key}`);
}

/** Runs `body` and asserts it left no tensor behind. */
function noLeaks<T>(body: () => T): T {
  const before = tf.memory().numTensors;
  const result = body();
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return result;
}

function withTensors(body: (keep: <T extends tf.Tensor>(t: T) => T) => void): void {
  const owned: tf.Tensor[] = [];
  try {
    noLeaks(() => {
      try {
        body((t) => (owned.push(t), t));
      } finally {
        tf.dispose(owned.splice(0));
      }
    });
  } finally {
    tf.dispose(owned);
  }
}

const forms: TimestepForm[] = ['array', 'tensor'];

/**
 * Registers one describe block per group; call inside a describe that selected the backend.
 * @param toleranceFactor - multiplies every float32 tolerance (the caller states why).
 */
export function defineReferenceSuite(groups: ReferenceGroups, toleranceFactor = 1): void {
  beforeAll(() => {
    backendFactor = toleranceFactor;
  });
  describe('schedules', () => {
    for (const c of groups.schedules!) {
      it(c.name, () => {
        const cfg = c.config!;
        const betas = namedBetaSchedule(cfg.schedule as 'linear', cfg.num_diffusion_timesteps as number);
        // 1 − ᾱ(t₂)/ᾱ(t₁) cancels: one ulp of cos (libm vs V8) becomes ~1e-13 relative in β.
        expectClose(betas, values(c.outputs.betas), { rtol: 1e-12, atol: 0 }, `${c.name}.betas`);
        if (c.expect_error) {
          expect(() => buildDiffusion(cfg)).toThrow(DifflibError);
          return;
        }
        const d = buildDiffusion(cfg);
        expect(d.numTimesteps).toBe(c.outputs.num_timesteps);
        for (const [key, v] of Object.entries(c.outputs)) {
          if (!isTensor(v)) continue;
          const table = (d as unknown as Record<string, Float64Array>)[camel(key)];
          expect(table, `table ${camel(key)}`).toBeInstanceOf(Float64Array);
          // float64 on both sides; libm and V8 may differ in the last bit of cos/log/sqrt.
          expectClose(table!, values(v), { rtol: 1e-12, atol: 1e-300 }, `${c.name}.${key}`);
        }
      });
    }
  });

  describe('respace', () => {
    for (const c of groups.respace!) {
      it(c.name, () => {
        const spec = c.inputs.section_counts as string;
        expect(spaceTimesteps(c.inputs.num_timesteps as number, spec)).toEqual(Array.from(values(c.outputs.use_timesteps)));
        const d = buildDiffusion(c.config!);
        expect(d.numTimesteps).toBe(c.outputs.num_timesteps);
        expect(d.timestepMap).toEqual(Array.from(values(c.outputs.timestep_map)));
        for (const key of ['betas', 'alphas_cumprod', 'posterior_log_variance_clipped']) {
          const table = (d as unknown as Record<string, Float64Array>)[camel(key)]!;
          expectClose(table, values(c.outputs[key]), { rtol: 1e-12, atol: 1e-300 }, `${c.name}.${key}`);
        }
      });
    }
  });

  describe('q_functions', () => {
    for (const c of groups.q_functions!) {
      for (const form of forms) {
        it(`${c.name} (t as ${form})`, () => {
          const d = buildDiffusion(c.config!);
          withTensors((keep) => {
            const xStart = keep(input(c.inputs.x_start));
            const t = timesteps(c.inputs.t, form, keep);
            if (c.function.endsWith('q_mean_variance')) {
              const out = d.qMeanVariance(xStart, t);
              keep(out.mean), keep(out.variance), keep(out.logVariance);
              check(out.mean, c, 'mean');
              check(out.variance, c, 'variance');
              check(out.logVariance, c, 'log_variance');
            } else if (c.function.endsWith('q_sample')) {
              const xT = keep(d.qSample(xStart, t, keep(input(c.inputs.noise))));
              check(xT, c, 'x_t');
            } else {
              const out = d.qPosteriorMeanVariance(xStart, keep(input(c.inputs.x_t)), t);
              keep(out.mean), keep(out.variance), keep(out.logVariance);
              check(out.mean, c, 'mean');
              check(out.variance, c, 'variance');
              check(out.logVariance, c, 'log_variance_clipped');
            }
          });
        });
      }
    }
  });

  describe('p_mean_variance', () => {
    for (const c of groups.p_mean_variance!) {
      for (const form of forms) {
        it(`${c.name} (t as ${form})`, () => {
          const d = buildDiffusion(c.config!);
          const { model, received } = constantModel(c.inputs.model_output);
          withTensors((keep) => {
            const t = timesteps(c.inputs.t, form, keep);
            const out = d.pMeanVariance(model, keep(input(c.inputs.x)), t, { clipDenoised: c.inputs.clip_denoised as boolean });
            keep(out.mean), keep(out.variance), keep(out.logVariance), keep(out.predXStart);
            check(out.mean, c, 'mean');
            check(out.variance, c, 'variance');
            check(out.logVariance, c, 'log_variance');
            check(out.predXStart, c, 'pred_xstart', AMPLIFIED);
          });
          expect(received).toHaveLength(1);
          expectClose(received[0]!.t, values(c.outputs.model_received_timesteps), { rtol: 0, atol: 0 }, 'model t');
        });
      }
    }
  });

  describe('sampling', () => {
    for (const c of groups.sampling!) {
      for (const form of forms) {
        it(`${c.name} (t as ${form})`, () => {
          const d = buildDiffusion(c.config!);
          const { model, received } = constantModel(c.inputs.model_output);
          const clipDenoised = c.inputs.clip_denoised as boolean;
          withTensors((keep) => {
            const t = timesteps(c.inputs.t, form, keep);
            const x = keep(input(c.inputs.x));
            const eta = c.inputs.eta as number | undefined;
            const out = c.function.endsWith('p_sample')
              ? d.pSample(model, x, t, { clipDenoised, noise: keep(input(c.inputs.noise)) })
              : c.function.includes('ddim_sample')
                ? d.ddimSample(model, x, t, { clipDenoised, eta: eta!, noise: keep(input(c.inputs.noise)) })
                : d.ddimReverseSample(model, x, t, { clipDenoised, eta: eta! });
            keep(out.sample), keep(out.predXStart);
            check(out.sample, c, 'sample', AMPLIFIED);
            check(out.predXStart, c, 'pred_xstart', AMPLIFIED);
          });
          expectClose(received[0]!.t, values(c.outputs.model_received_timesteps), { rtol: 0, atol: 0 }, 'model t');
        });
      }
    }
  });

  describe('training_losses', () => {
    for (const c of groups.training_losses!) {
      for (const form of forms) {
        it(`${c.name} (t as ${form})`, () => {
          const d = buildDiffusion(c.config!);
          const { model, received } = constantModel(c.inputs.model_output);
          withTensors((keep) => {
            const t = timesteps(c.inputs.t, form, keep);
            const out = d.trainingLosses(model, keep(input(c.inputs.x_start)), t, { noise: keep(input(c.inputs.noise)) });
            const keys = Object.keys(out).sort();
            expect(keys).toEqual(['loss', 'mse', 'vb'].filter((k) => k in c.outputs));
            for (const k of keys) {
              check(keep(out[k as 'loss']!), c, k, AMPLIFIED);
            }
          });
          expect(received).toHaveLength(1);
          const xReceived = expected(c.outputs.model_received_x);
          expectClose(received[0]!.x, xReceived, DEFAULT_TOL(xReceived), 'model x');
        });
      }
    }
  });

  describe('vb_bpd', () => {
    for (const c of groups.vb_bpd!) {
      it(c.name, () => {
        const d = buildDiffusion(c.config!);
        withTensors((keep) => {
          if (c.function.endsWith('_prior_bpd')) {
            check(keep(d.priorBpd(keep(input(c.inputs.x_start)))), c, 'prior_bpd', AMPLIFIED);
          } else if (c.function.endsWith('_vb_terms_bpd')) {
            const { model } = constantModel(c.inputs.model_output);
            const out = d.vbTermsBpd(model, keep(input(c.inputs.x_start)), keep(input(c.inputs.x_t)), Array.from(values(c.inputs.t)), {
              clipDenoised: c.inputs.clip_denoised as boolean,
            });
            check(keep(out.output), c, 'output', AMPLIFIED);
            check(keep(out.predXStart), c, 'pred_xstart', AMPLIFIED);
          } else {
            const byT = channelsLast(c.inputs.model_output_by_t, 2);
            const perStep = byT.data.length / byT.shape[0]!;
            const perExample = perStep / byT.shape[1]!;
            const model: DiffusionModel = (_x, t) => {
              const steps = t.dataSync();
              const out = new Float32Array(perStep);
              steps.forEach((s, b) => out.set(byT.data.subarray(s * perStep + b * perExample, s * perStep + (b + 1) * perExample), b * perExample));
              return tf.tensor(out, byT.shape.slice(1), 'float32');
            };
            const noiseByT = keep(input(c.inputs.noise_by_t, 2));
            const noises = tf.unstack(noiseByT).map(keep);
            const out = d.calcBpdLoop(model, keep(input(c.inputs.x_start)), {
              clipDenoised: c.inputs.clip_denoised as boolean,
              noise: (t) => noises[t]!,
            });
            for (const [key, value] of Object.entries(out) as [string, tf.Tensor][]) {
              check(keep(value), c, key.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`), AMPLIFIED);
            }
          }
        });
      });
    }
  });

  describe('losses', () => {
    for (const c of groups.losses!) {
      it(c.name, () => {
        withTensors((keep) => {
          const arg = (k: string) => (isTensor(c.inputs[k]) ? keep(input(c.inputs[k])) : (c.inputs[k] as number));
          if (c.function.endsWith('normal_kl')) {
            check(keep(normalKl(arg('mean1'), arg('logvar1'), arg('mean2'), arg('logvar2'))), c, 'kl');
          } else if (c.function.endsWith('approx_standard_normal_cdf')) {
            // Near the tails the reference's 1 + tanh cancels in float64 at 1e-16 absolute.
            const e = values(c.outputs.cdf);
            expectClose(keep(approxStandardNormalCdf(keep(input(c.inputs.x)))).dataSync(), e, { rtol: 1e-5 * backendFactor, atol: 1e-7 * backendFactor }, c.name);
          } else {
            const x = keep(input(c.inputs.x));
            const out = keep(discretizedGaussianLogLikelihood(x, { means: keep(input(c.inputs.means)), logScales: keep(input(c.inputs.log_scales)) }));
            // SCHEMA.md: values near log(1e-10) carry ~1e-6 absolute sensitivity to the tanh implementation.
            const e = expected(c.outputs.log_probs);
            expectClose(out.dataSync(), e, { rtol: 1e-5 * backendFactor, atol: 2e-5 * backendFactor }, c.name);
          }
        });
      });
    }
  });

  describe('resample', () => {
    for (const c of groups.resample!) {
      it(c.name, () => {
        const T = c.inputs.num_timesteps as number;
        const sampler = c.name.startsWith('uniform')
          ? new UniformSampler(T)
          : new LossSecondMomentResampler(T, {
              historyPerTerm: c.inputs.history_per_term as number,
              uniformProb: c.inputs.uniform_prob as number,
            });
        if (sampler instanceof LossSecondMomentResampler) {
          const tsBatches = c.inputs.update_batches_ts as number[][];
          const lossBatches = c.inputs.update_batches_losses as number[][];
          const weightsAfter = values(c.outputs.weights_after_each_update);
          const warmed = c.outputs.warmed_up_after_each_update as boolean[];
          tsBatches.forEach((ts, i) => {
            sampler.updateWithAllLosses(ts, lossBatches[i]!);
            expect(sampler.warmedUp, `warmed up after update ${i}`).toBe(warmed[i]);
            expectClose(sampler.weights(), weightsAfter.subarray(i * T, (i + 1) * T), { rtol: 1e-12, atol: 0 }, `weights after update ${i}`);
          });
          expectClose(sampler.weights(), values(c.outputs.final_weights), { rtol: 1e-12, atol: 0 }, 'final weights');
        } else {
          expectClose(sampler.weights(), values(c.outputs.weights), { rtol: 0, atol: 0 }, 'weights');
        }
        // Replace the random draw with the forced indices: a uniform u in the middle of bin i selects i.
        const w = sampler.weights();
        const total = w.reduce((a, b) => a + b, 0);
        const cdf: number[] = [];
        w.reduce((acc, wi) => (cdf.push(acc + wi / total), acc + wi / total), 0);
        const forced = c.inputs.forced_indices as number[];
        const us = forced.map((i) => ((i === 0 ? 0 : cdf[i - 1]!) + cdf[i]!) / 2);
        withTensors((keep) => {
          const s = sampler.sample(forced.length, { random: () => us.shift()! });
          keep(s.timesteps), keep(s.weights);
          expect(Array.from(s.indices)).toEqual(Array.from(values(c.outputs.sample_indices)));
          expect(Array.from(s.timesteps.dataSync())).toEqual(Array.from(values(c.outputs.sample_indices)));
          // float32 on both sides: exact.
          expectClose(s.weights.dataSync(), values(c.outputs.sample_weights), { rtol: 0, atol: 0 }, 'importance weights');
        });
      });
    }
  });

  describe('timestep_embedding', () => {
    for (const c of groups.timestep_embedding!) {
      it(c.name, () => {
        withTensors((keep) => {
          const t = keep(tf.tensor1d(Array.from(values(c.inputs.timesteps)), 'int32'));
          const emb = keep(timestepEmbedding(t, c.inputs.dim as number, c.inputs.max_period as number));
          expect(emb.shape).toEqual(isTensor(c.outputs.embedding) ? c.outputs.embedding.shape : []);
          // float32 reference with the same float32 frequencies; cos/sin of arguments up to
          // ~1e3 rad, where one ulp of the argument is 6e-5, so the kernels' argument
          // reduction sets the error.
          expectClose(emb.dataSync(), values(c.outputs.embedding), { rtol: 1e-5 * backendFactor, atol: 1e-5 * backendFactor }, c.name);
        });
      });
    }
  });
}
