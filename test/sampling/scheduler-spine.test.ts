// What every scheduler shares (SchedulerBase, configs, schedulerFromConfig, the float32
// table arithmetic), tested through DDIMScheduler: configs both ways, bad input refused
// before any tensor, ownership of inputs and outputs, and the host arithmetic against
// torch/numpy facts.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DDIMScheduler, schedulerFromConfig } from '../../src/index';
import { cumprodF32, numpyArange, numpyInterp, roundHalfEven, torchLinspaceF32 } from '../../src/sampling/schedulers/float32';
import { spacedTimesteps } from '../../src/sampling/schedulers/spacing';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

beforeAll(() => useBackend('cpu'));

describe('scheduler configs', () => {
  it('round-trip: toConfig() of a camelCase-built scheduler rebuilds the same scheduler', () => {
    const a = new DDIMScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, stepsOffset: 1, clipSample: false });
    const config = a.toConfig();
    expect(config).toMatchObject({ _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear', steps_offset: 1, clip_sample: false, set_alpha_to_one: true });
    const b = schedulerFromConfig(config as { _class_name: string }) as DDIMScheduler;
    expect(b.toConfig()).toEqual(config);
    expect(Array.from(b.alphasCumprod)).toEqual(Array.from(a.alphasCumprod));
  });

  it('ignores, with a warning, bookkeeping keys and unknown keys whose value is null or false', () => {
    const warnings: string[] = [];
    const s = schedulerFromConfig(
      { _class_name: 'DDIMScheduler', _diffusers_version: '0.99.0', some_future_flag: false, another: null },
      { warn: (m) => warnings.push(m) },
    );
    expect(s).toBeInstanceOf(DDIMScheduler);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^schedulerFromConfig: config\.some_future_flag \(false\) is not a DDIMScheduler option difflib knows; ignored/);
  });

  it('refuses a key it does not know whose value would change the math, an unknown class and bad values', () => {
    expectDifflibError(() => schedulerFromConfig({ _class_name: 'DDIMScheduler', some_future_flag: true }), 'schedulerFromConfig', 'config.some_future_flag', 'UNKNOWN_OPTION');
    const e = expectDifflibError(() => schedulerFromConfig({ _class_name: 'FlowMatchEulerDiscreteScheduler' }), 'schedulerFromConfig', 'config._class_name', 'UNKNOWN_OPTION');
    expect(e.message).toContain('DDIMScheduler');
    expectDifflibError(() => schedulerFromConfig({ _class_name: 'DDIMScheduler', beta_schedule: 'quadratic' }), 'schedulerFromConfig', 'config.beta_schedule');
    expectDifflibError(() => schedulerFromConfig({ _class_name: 'DDIMScheduler', num_train_timesteps: 0 }), 'schedulerFromConfig', 'config.num_train_timesteps');
    expectDifflibError(() => schedulerFromConfig(null as never), 'schedulerFromConfig', 'config');
    expectDifflibError(() => new DDIMScheduler({ timestepSpacing: 'even' as never }), 'DDIMScheduler', 'options.timestepSpacing');
    expectDifflibError(() => new DDIMScheduler({ betaStrat: 0.1 } as never), 'DDIMScheduler', 'options.betaStrat', 'UNKNOWN_OPTION');
  });
});

describe('scheduler calls refused before any tensor is made', () => {
  const x = () => tf.zeros([2, 4, 4, 3]);

  it('numInferenceSteps of 0, above T or fractional', () => {
    const s = new DDIMScheduler({ numTrainTimesteps: 100 });
    for (const n of [0, 101, 2.5, NaN]) expectDifflibError(() => s.setTimesteps(n), 'DDIMScheduler.setTimesteps', 'numInferenceSteps');
  });

  it('a step or scaleModelInput before setTimesteps, and a t that is not one of the timesteps', () => {
    const s = new DDIMScheduler();
    const sample = x();
    expectDifflibError(() => s.step(sample, 999, sample), 'DDIMScheduler.step', 'this', 'UNSATISFIABLE');
    expectDifflibError(() => s.scaleModelInput(sample, 999), 'DDIMScheduler.scaleModelInput', 'this', 'UNSATISFIABLE');
    s.setTimesteps(10);
    expectDifflibError(() => s.step(sample, 998, sample), 'DDIMScheduler.step', 't', 'OUT_OF_RANGE');
    expectDifflibError(() => s.scaleModelInput(sample, 5.5), 'DDIMScheduler.scaleModelInput', 't', 'OUT_OF_RANGE');
    sample.dispose();
  });

  it('a model output of the wrong shape or channel count, bad noise, an unknown or bad step option', () => {
    const s = new DDIMScheduler();
    s.setTimesteps(10);
    const t = s.timesteps[0]!;
    const sample = x();
    const doubled = tf.zeros([2, 4, 4, 6]);
    const wrongNoise = tf.zeros([2, 4, 4, 1]);
    expectDifflibError(() => s.step(doubled, t, sample), 'DDIMScheduler.step', 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(sample, t, 'x' as never), 'DDIMScheduler.step', 'sample');
    expectDifflibError(() => s.step(sample, t, sample, { eta: 1, noise: wrongNoise }), 'DDIMScheduler.step', 'options.noise', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(sample, t, sample, { sChurn: 1 }), 'DDIMScheduler.step', 'options.sChurn', 'UNKNOWN_OPTION');
    expectDifflibError(() => s.step(sample, t, sample, { eta: -1 }), 'DDIMScheduler.step', 'options.eta');
    expectDifflibError(() => s.step(sample, t, sample, { seed: Infinity }), 'DDIMScheduler.step', 'options.seed');
    tf.dispose([sample, doubled, wrongNoise]);
  });

  it('never disposes what it is given and returns tensors the caller owns', () => {
    const s = new DDIMScheduler({ predictionType: 'sample', clipSample: false });
    s.setTimesteps(4);
    const sample = tf.randomNormal([1, 2, 2, 3]);
    const out = tf.randomNormal([1, 2, 2, 3]);
    const before = tf.memory().numTensors;
    const { prevSample, predOriginalSample } = s.step(out, s.timesteps[0]!, sample);
    expect(predOriginalSample).not.toBe(out); // x̂_0 = the model output, but a copy
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([prevSample, predOriginalSample!]);
    expect(sample.isDisposed || out.isDisposed).toBe(false);
    tf.dispose([sample, out]);
  });
});

describe('float32 table arithmetic (facts from torch 1.13 and numpy 1.24)', () => {
  it("torch's float32 linspace is not start + i·step", () => {
    // torch.linspace(0.0001, 0.02, 1000)[[0, 1, 7, 8, 500, 991, 999]], printed as doubles.
    const l = torchLinspaceF32(0.0001, 0.02, 1000);
    expect([0, 1, 7, 8, 500, 991, 999].map((i) => l[i])).toEqual([
      9.999999747378752e-5, 0.00011991991777904332, 0.00023943945416249335, 0.00025935936719179153, 0.010059960186481476,
      0.01984064094722271, 0.019999999552965164,
    ]);
  });

  it("numpy's round is half to even, and its arange steps by (start + step) − start", () => {
    expect([0.5, 1.5, 2.5, -0.5, 937.5, 812.5, 2.4].map(roundHalfEven)).toEqual([0, 2, 2, -0, 938, 812, 2]);
    // np.arange(1000, 0, -1000/15)[:4]
    expect(Array.from(numpyArange(1000, 0, -1000 / 15).subarray(0, 4))).toEqual([1000, 933.3333333333334, 866.6666666666667, 800.0000000000001]);
    // np.round(np.arange(1000, 0, -62.5)) - 1: 937.5 → 938 but 812.5 → 812.
    expect(spacedTimesteps('trailing', 1000, 16, 0).slice(0, 4)).toEqual([999, 937, 874, 811]);
  });

  it('cumprod accumulates in float64 and stores float32; interp is numpy’s', () => {
    const a = new Float32Array([0.9, 0.8, 0.7]);
    expect(Array.from(cumprodF32(a))).toEqual([Math.fround(0.9), Math.fround(Math.fround(0.9) * Math.fround(0.8)), Math.fround(Math.fround(0.9) * Math.fround(0.8) * Math.fround(0.7))]);
    expect(Array.from(numpyInterp([-1, 0, 0.25, 2, 5], [0, 1, 2], [10, 20, 40]))).toEqual([10, 10, 12.5, 40, 40]);
  });
});

describe('scheduler_config.json text as diffusers writes it', () => {
  it('reads bare -Infinity / NaN (Python json) and writes them back, so a DPM-Solver config round-trips', async () => {
    const { DPMSolverMultistepScheduler, schedulerConfigJson } = await import('../../src/index');
    const text = schedulerConfigJson(new DPMSolverMultistepScheduler({ algorithmType: 'dpmsolver++', solverOrder: 2 }));
    expect(text).toContain('"lambda_min_clipped": -Infinity');
    expect(() => JSON.parse(text)).toThrow(); // what JSON.parse makes of diffusers' own files
    const again = schedulerFromConfig(text);
    expect(again.config['lambda_min_clipped']).toBe(-Infinity);
    expect(schedulerConfigJson(again)).toBe(text);
    // Keys sorted, strings with the tokens inside them untouched.
    const odd = schedulerFromConfig('{"_class_name": "DDIMScheduler", "_diffusers_version": "NaN -Infinity", "num_train_timesteps": 10}');
    expect(odd.config['num_train_timesteps']).toBe(10);
    expectDifflibError(() => schedulerFromConfig('{"_class_name": '), 'schedulerFromConfig', 'config');
    expectDifflibError(() => schedulerFromConfig('[1]'), 'schedulerFromConfig', 'config');
  });
});

describe('trained betas', () => {
  it('every scheduler refuses trainedBetas whose length is not numTrainTimesteps, before any table', async () => {
    const { SCHEDULER_CLASSES } = await import('../../src/sampling/schedulers/from-config');
    for (const [name, cls] of Object.entries(SCHEDULER_CLASSES)) {
      expectDifflibError(() => cls.create({ numTrainTimesteps: 10, trainedBetas: [0.1, 0.2] }), name, 'options.trainedBetas');
    }
  });
});
