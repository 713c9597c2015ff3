// UniPCMultistepScheduler beyond the diffusers cases (which schedulers.test.ts runs on
// every backend): torch's float32 linear solve, refusals before any tensor, the
// configurations where diffusers gives NaN or raises, an exact-Gaussian denoiser (the
// sampler converges to the probability-flow ODE's answer; the corrector helps at few
// steps; every prediction type agrees), the options no reference case covers, and
// ownership of tensors.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { UniPCMultistepScheduler, schedulerFromConfig, type UniPCMultistepSchedulerOptions, type UniPCStepOutput } from '../../src/index';
import { torchLinalgSolveF32 } from '../../src/sampling/schedulers/torch-linalg-solve';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';
import { expectClose } from '../reference/compare';
import { decode, loadSchedulerGroups, softsignQ } from './scheduler-cases';

beforeAll(() => useBackend('cpu'));

const CLASS = 'UniPCMultistepScheduler';

/** Data N(0, s²I): the exact model outputs at x_t, as scalar gains on x_t (in float64). */
function gaussianGains(alphaBar: number, s: number): { epsilon: number; sample: number; v_prediction: number } {
  const variance = alphaBar * s * s + 1 - alphaBar;
  const sa = Math.sqrt(alphaBar);
  const sb = Math.sqrt(1 - alphaBar);
  return { epsilon: sb / variance, sample: (sa * s * s) / variance, v_prediction: (sa * sb * (1 - s * s)) / variance };
}

/** Runs the sampling loop from `x` with the exact Gaussian model; returns the final sample and the step outputs' orders. */
function sampleGaussian(options: UniPCMultistepSchedulerOptions, n: number, x: tf.Tensor, s: number, onStep?: (out: UniPCStepOutput, i: number) => void): tf.Tensor {
  const scheduler = new UniPCMultistepScheduler(options);
  scheduler.setTimesteps(n);
  const type = options.predictionType ?? 'epsilon';
  let sample = x.clone();
  Array.from(scheduler.timesteps).forEach((t, i) => {
    const modelOutput = tf.mul(sample, gaussianGains(scheduler.alphasCumprod[t]!, s)[type]);
    const out = scheduler.step(modelOutput, t, sample);
    onStep?.(out, i);
    tf.dispose([sample, modelOutput, out.convertedModelOutput, out.correctedSample]);
    sample = out.prevSample;
  });
  scheduler.dispose();
  return sample;
}

/**
 * The sampler's gain on x_T relative to the exact one: for Gaussian data every step is
 * linear in x, and the probability-flow ODE maps x_t to x_t·std_s/std_t, std_t² = ᾱ_t s² + 1 − ᾱ_t
 * (std = s at σ = 0). Returns gain/exact − 1.
 */
function gainError(options: UniPCMultistepSchedulerOptions, n: number, s = 0.5): number {
  const x = tf.ones([1, 1, 1, 1]);
  const out = sampleGaussian(options, n, x, s);
  const gain = out.dataSync()[0]!;
  tf.dispose([x, out]);
  const scheduler = new UniPCMultistepScheduler(options);
  scheduler.setTimesteps(n);
  const std = (a: number) => Math.sqrt(a * s * s + 1 - a);
  const ab = scheduler.alphasCumprod;
  const end = options.finalSigmasType === 'sigma_min' ? std(ab[0]!) : s;
  return gain / (end / std(ab[scheduler.timesteps[0]!]!)) - 1;
}

const allSteps = (n: number) => Array.from({ length: n }, (_, i) => i);

const disposeOutput = (out: UniPCStepOutput) => tf.dispose([out.prevSample, out.convertedModelOutput, out.correctedSample]);

describe('torch.linalg.solve in float32 (facts from torch 1.13 + OpenBLAS Haswell kernels)', () => {
  it("solves a slice as torch does, not as the correctly rounded solution (the Karras case's first order-3 predictor)", () => {
    const a = [
      [1, 1],
      [-0.9417915940284729, -1.8317792415618896],
    ];
    const b = [0.5359310507774353, 0.3697820007801056];
    expect(torchLinalgSolveF32(a, b, false)).toEqual([1.5185484886169434, -0.9826173782348633]);
    // float64 solve rounded to float32 (numpy): the last entry is one ulp away.
    expect(Math.fround(-0.9826174378395081)).not.toBe(-0.9826173782348633);
  });

  it('factors the transpose of a contiguous matrix (3×3 corrector with pivoting): the two paths differ', () => {
    const r = [
      [1, 1, 1],
      [-1.1304341554641724, -2.393662214279175, 1],
      [1.277881383895874, 5.729619026184082, 1],
    ];
    const b = [0.3941662311553955, 0.27853158116340637, 0.216339573264122];
    expect(torchLinalgSolveF32(r, b, true)).toEqual([0.1259583830833435, -0.044999007135629654, 0.31320685148239136]);
    expect(torchLinalgSolveF32(r, b, false)).toEqual([0.1259583979845047, -0.044999003410339355, 0.31320682168006897]);
  });

  it('reports a singular matrix (an exactly zero pivot) as null', () => {
    expect(torchLinalgSolveF32([[1, 1], [-0, -0]], [0.5, 0.25], false)).toBeNull();
    expect(torchLinalgSolveF32([[1, 1, 1], [-0.5, -0.5, 1], [0.25, 0.25, 1]], [1, 2, 3], true)).toBeNull();
  });
});

describe('refused before any tensor is made', () => {
  it('config values out of their domain, and keys difflib does not implement', () => {
    const bad: [UniPCMultistepSchedulerOptions, string][] = [
      [{ solverOrder: 4 as never }, 'options.solverOrder'],
      [{ solverType: 'dpm' as never }, 'options.solverType'],
      [{ disableCorrector: [-1] }, 'options.disableCorrector'],
      [{ disableCorrector: 'all' as never }, 'options.disableCorrector'],
      [{ predictX0: 1 as never }, 'options.predictX0'],
      [{ finalSigmasType: 'max' as never }, 'options.finalSigmasType'],
      [{ timestepSpacing: 'even' as never }, 'options.timestepSpacing'],
      [{ stepsOffset: -1 }, 'options.stepsOffset'],
      [{ predictionType: 'flow_prediction' as never }, 'options.predictionType'],
      [{ useExponentialSigmas: true as never }, 'options.useExponentialSigmas'],
      [{ useFlowSigmas: true as never }, 'options.useFlowSigmas'],
      [{ solverP: {} as never }, 'options.solverP'],
      [{ sigmaMin: 0.1 as never }, 'options.sigmaMin'],
      [{ shiftTerminal: 0.5 as never }, 'options.shiftTerminal'],
    ];
    for (const [options, argument] of bad) expectDifflibError(() => new UniPCMultistepScheduler(options), CLASS, argument, 'INVALID_ARGUMENT');
    expectDifflibError(() => new UniPCMultistepScheduler({ order: 2 } as never), CLASS, 'options.order', 'UNKNOWN_OPTION');
    expectDifflibError(() => schedulerFromConfig({ _class_name: CLASS, use_beta_sigmas: true }), 'schedulerFromConfig', 'config.use_beta_sigmas');
  });

  it('numInferenceSteps of 0, above T or fractional', () => {
    const s = new UniPCMultistepScheduler({ numTrainTimesteps: 100 });
    for (const n of [0, 101, 2.5]) expectDifflibError(() => s.setTimesteps(n), `${CLASS}.setTimesteps`, 'numInferenceSteps', 'INVALID_ARGUMENT');
  });

  it('a step before setTimesteps, a t that is not a timestep, out of order or past the last', () => {
    const s = new UniPCMultistepScheduler();
    const x = tf.zeros([2, 4, 4, 3]);
    expectDifflibError(() => s.step(x, 999, x), `${CLASS}.step`, 'this', 'UNSATISFIABLE');
    expectDifflibError(() => s.scaleModelInput(x, 999), `${CLASS}.scaleModelInput`, 'this', 'UNSATISFIABLE');
    s.setTimesteps(2);
    const [t0, t1] = Array.from(s.timesteps) as [number, number];
    expectDifflibError(() => s.step(x, 998, x), `${CLASS}.step`, 't', 'OUT_OF_RANGE');
    disposeOutput(s.step(x, t0, x));
    expectDifflibError(() => s.step(x, t0, x), `${CLASS}.step`, 't', 'OUT_OF_RANGE');
    disposeOutput(s.step(x, t1, x));
    expectDifflibError(() => s.step(x, t1, x), `${CLASS}.step`, 't', 'UNSATISFIABLE');
    s.dispose();
    x.dispose();
  });

  it('a model output of the wrong shape or channel count (UniPC has no learned variance), an unknown step option', () => {
    const s = new UniPCMultistepScheduler();
    s.setTimesteps(10);
    const t = s.timesteps[0]!;
    const x = tf.zeros([2, 4, 4, 3]);
    const doubled = tf.zeros([2, 4, 4, 6]);
    expectDifflibError(() => s.step(doubled, t, x), `${CLASS}.step`, 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(x, t, doubled), `${CLASS}.step`, 'modelOutput', 'SHAPE_MISMATCH');
    expectDifflibError(() => s.step(x, t, 'x' as never), `${CLASS}.step`, 'sample');
    expectDifflibError(() => s.step(x, t, x, { eta: 0 }), `${CLASS}.step`, 'options.eta', 'UNKNOWN_OPTION');
    tf.dispose([x, doubled]);
  });
});

describe('the diffusers cases, bit for bit on cpu', () => {
  // The suite (schedulers.test.ts) allows max(1e-5, 100·sensitivity)·rms on every backend,
  // and its tolerance is NaN for unipc_bh1_final_sigma_zero_nan (final_rms is NaN), where it
  // checks only which values are NaN. Here every stored array must be identical, NaN for NaN:
  // the host scalars (torch.linalg.solve included) are torch's to the bit.
  it('prev_sample, converted_model_output and corrected_sample of every step equal diffusers\' exactly', async () => {
    const cases = (await loadSchedulerGroups()).unipc_multistep!;
    expect(cases.map((c) => c.name)).toContain('unipc_bh1_final_sigma_zero_nan');
    for (const c of cases) {
      const s = schedulerFromConfig({ _class_name: c.scheduler, ...c.config });
      s.setTimesteps(c.inputs.num_inference_steps);
      const shape = c.inputs.x_T.shape;
      const keys = ['prev_sample', 'converted_model_output', 'corrected_sample'] as const;
      const expected = keys.map((k) => decode(c.outputs.steps[k]));
      const size = expected[0]!.length / c.outputs.num_steps;
      let x = tf.tensor(Float32Array.from(decode(c.inputs.x_T)), shape, 'float32');
      Array.from(s.timesteps).forEach((t, i) => {
        const m = tf.tensor(softsignQ(x.dataSync(), decode(c.inputs.c), t, false), shape, 'float32');
        const out = s.step(m, t, x) as UniPCStepOutput;
        [out.prevSample, out.convertedModelOutput, out.correctedSample].forEach((got, k) => {
          const want = expected[k]!.subarray(i * size, (i + 1) * size);
          const differing = Array.from(got.dataSync()).filter((v, j) => !Object.is(v, want[j])).length;
          expect(differing, `${c.name} step ${i} ${keys[k]}: elements not bit-identical`).toBe(0);
        });
        if (c.name === 'unipc_bh1_final_sigma_zero_nan') expect(Array.from(out.prevSample.dataSync()).every(Number.isNaN)).toBe(i === s.timesteps.length - 1);
        tf.dispose([x, m, out.convertedModelOutput, out.correctedSample]);
        x = out.prevSample;
      });
      x.dispose();
    }
  });
});

describe('where diffusers gives NaN or raises', () => {
  const run = (options: UniPCMultistepSchedulerOptions, n: number) => {
    const x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 1);
    const finite: boolean[] = [];
    const last = sampleGaussian(options, n, x, 0.5, (out) => finite.push(out.prevSample.dataSync().every(Number.isFinite)));
    const values = Array.from(last.dataSync());
    tf.dispose([x, last]);
    return { finite, values };
  };

  it('noise prediction (predictX0 false) with final σ 0: NaN at the last step only, as in diffusers; finite with sigma_min', () => {
    const zero = run({ predictX0: false }, 6);
    expect(zero.finite).toEqual([true, true, true, true, true, false]);
    expect(zero.values.every(Number.isNaN)).toBe(true);
    expect(run({ predictX0: false, finalSigmasType: 'sigma_min' }, 6).finite.every(Boolean)).toBe(true);
  });

  it('a last step of order 2 to σ = 0 (lowerOrderFinal false): ±∞ everywhere, as in diffusers', () => {
    const { finite, values } = run({ lowerOrderFinal: false }, 4);
    expect(finite).toEqual([true, true, true, false]);
    expect(values.every((v) => v === Infinity || v === -Infinity)).toBe(true);
  });

  it('bh2 with x̂_0 (the defaults) ends finite: the last step to σ = 0 returns x̂_0 itself', () => {
    const s = new UniPCMultistepScheduler();
    s.setTimesteps(3);
    let x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 2);
    for (const t of Array.from(s.timesteps)) {
      const m = tf.mul(x, 0.9);
      const out = s.step(m, t, x);
      if (t === s.timesteps[2]) expect(Array.from(out.prevSample.dataSync())).toEqual(Array.from(out.convertedModelOutput.dataSync()));
      tf.dispose([x, m, out.convertedModelOutput, out.correctedSample]);
      x = out.prevSample;
    }
    x.dispose();
  });

  it('an order-3 last step to σ = 0 (singular in diffusers) is refused at setTimesteps', () => {
    const s = new UniPCMultistepScheduler({ solverOrder: 3, lowerOrderFinal: false });
    expectDifflibError(() => s.setTimesteps(3), `${CLASS}.setTimesteps`, 'numInferenceSteps', 'UNSATISFIABLE');
    expect(() => s.setTimesteps(2)).not.toThrow(); // its last step is of order 2
    expect(() => new UniPCMultistepScheduler({ solverOrder: 3, lowerOrderFinal: false, finalSigmasType: 'sigma_min' }).setTimesteps(10)).not.toThrow();
  });

  it('a singular system mid-loop (two timesteps with one σ: zero betas between them) is refused by the step, making nothing', () => {
    // T = 20, 4 steps at t = 19, 14, 10, 5: β_11..β_14 = 0 makes σ(14) = σ(10), so the order-3
    // predictor at t = 5 has r_1 = r_2.
    const trainedBetas = Array.from({ length: 20 }, (_, i) => (i >= 11 && i <= 14 ? 0 : 0.01 + 0.02 * i));
    const s = new UniPCMultistepScheduler({ numTrainTimesteps: 20, trainedBetas, solverOrder: 3, lowerOrderFinal: false, finalSigmasType: 'sigma_min' });
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([19, 14, 10, 5]);
    let x = tf.ones([1, 1, 1, 1]);
    for (const t of [19, 14, 10]) {
      const out = s.step(x, t, x);
      tf.dispose([x, out.convertedModelOutput, out.correctedSample]);
      x = out.prevSample;
    }
    expectDifflibError(() => s.step(x, 5, x), `${CLASS}.step`, 't', 'UNSATISFIABLE');
    x.dispose();
    s.dispose();
  });
});

describe('exact Gaussian data N(0, s²I): ε̂(x_t) = √(1−ᾱ_t)·x_t/(ᾱ_t s² + 1 − ᾱ_t)', () => {
  it('converges to the probability-flow answer as the steps grow, for every order, B(h) and final σ', () => {
    for (const finalSigmasType of ['zero', 'sigma_min'] as const) {
      for (const solverType of ['bh1', 'bh2'] as const) {
        if (finalSigmasType === 'zero' && solverType === 'bh1') continue; // NaN at the last step (above)
        for (const solverOrder of [1, 2, 3] as const) {
          const errors = [5, 10, 20, 50].map((n) => Math.abs(gainError({ finalSigmasType, solverType, solverOrder }, n)));
          for (let k = 1; k < errors.length; k++) expect(errors[k], `${finalSigmasType} ${solverType} order ${solverOrder}`).toBeLessThan(errors[k - 1]!);
          expect(errors[3], `${finalSigmasType} ${solverType} order ${solverOrder} at 50 steps`).toBeLessThan(solverOrder === 1 ? 4e-2 : 1e-2);
        }
      }
    }
    expect(Math.abs(gainError({ predictX0: false, finalSigmasType: 'sigma_min' }, 50))).toBeLessThan(2e-2); // ε̂ integrates less accurately here (1e-2)
  });

  it('the corrector (UniC) helps at few steps', () => {
    for (const [finalSigmasType, solverType] of [['zero', 'bh2'], ['sigma_min', 'bh1'], ['sigma_min', 'bh2']] as const) {
      for (const solverOrder of [1, 2, 3] as const) {
        for (const n of [5, 10]) {
          const options = { finalSigmasType, solverType, solverOrder };
          const corrected = Math.abs(gainError(options, n));
          const plain = Math.abs(gainError({ ...options, disableCorrector: allSteps(n) }, n));
          expect(corrected, `${finalSigmasType} ${solverType} order ${solverOrder}, ${n} steps`).toBeLessThan(plain);
        }
      }
    }
  });

  it("samples' variance tends to s² (50 steps, 16 384 samples)", () => {
    const s = 0.5;
    const x = tf.randomNormal([16384, 1, 1, 1], 0, 1, 'float32', 7);
    const out = sampleGaussian({}, 50, x, s);
    const values = Array.from(out.dataSync());
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
    // Sampling error of a variance: √(2/n) ≈ 1.1%; the solver's own error is 0.7% here.
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance / (s * s) - 1)).toBeLessThan(0.04);
    tf.dispose([x, out]);
  });

  it('ε, x_0 and v predictions of the same model give the same samples, with x̂_0 and with ε̂', () => {
    const x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 3);
    for (const predictX0 of [true, false]) {
      const finalSigmasType = predictX0 ? 'zero' : 'sigma_min';
      const runs = (['epsilon', 'sample', 'v_prediction'] as const).map((predictionType) => {
        const out = sampleGaussian({ predictionType, predictX0, finalSigmasType, solverOrder: 3 }, 10, x, 0.5);
        const values = out.dataSync();
        out.dispose();
        return values;
      });
      expectClose(runs[1]!, runs[0]!, { rtol: 2e-5, atol: 1e-7 }, `sample vs epsilon (predictX0 ${predictX0})`);
      expectClose(runs[2]!, runs[0]!, { rtol: 2e-5, atol: 1e-7 }, `v vs epsilon (predictX0 ${predictX0})`);
    }
    x.dispose();
  });
});

describe('options no reference case covers', () => {
  it('timestep spacing: leading with stepsOffset and trailing (numpy facts), σ at those timesteps', () => {
    const leading = new UniPCMultistepScheduler({ timestepSpacing: 'leading', stepsOffset: 1 });
    leading.setTimesteps(10);
    expect(Array.from(leading.timesteps)).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
    const trailing = new UniPCMultistepScheduler({ timestepSpacing: 'trailing', stepsOffset: 1 });
    trailing.setTimesteps(7);
    expect(Array.from(trailing.timesteps)).toEqual([999, 856, 713, 570, 428, 285, 142]); // stepsOffset only moves `leading`
    const sigma = (t: number) => Math.fround(Math.sqrt(Math.fround(Math.fround(1 - leading.alphasCumprod[t]!) / leading.alphasCumprod[t]!)));
    expect(Array.from(leading.sigmas)).toEqual([...Array.from(leading.timesteps, sigma), 0]);
    for (const timestepSpacing of ['leading', 'trailing'] as const) expect(Math.abs(gainError({ timestepSpacing }, 50))).toBeLessThan(1e-2);
  });

  it('zero terminal SNR: ᾱ_{T−1} = 2⁻²⁴ (σ ≈ 4096 at t = 999), and sampling still converges', () => {
    const s = new UniPCMultistepScheduler({ rescaleBetasZeroSnr: true });
    expect(s.alphasCumprod[999]).toBe(2 ** -24);
    s.setTimesteps(10);
    expect(s.sigmas[0]).toBeCloseTo(4096, 0);
    expect(Math.abs(gainError({ rescaleBetasZeroSnr: true }, 50))).toBeLessThan(1e-2);
  });

  it('dynamic thresholding keeps x̂_0 within ±sampleMaxValue, and does nothing with predictX0 false (as in diffusers)', () => {
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 4);
    const maxAbs = (options: UniPCMultistepSchedulerOptions) => {
      let worst = 0;
      sampleGaussian({ finalSigmasType: 'sigma_min', ...options }, 8, x, 3, (out) => {
        worst = Math.max(worst, ...Array.from(out.convertedModelOutput.dataSync(), Math.abs));
      });
      return worst;
    };
    expect(maxAbs({})).toBeGreaterThan(1.5); // data N(0, 9): x̂_0 beyond 1
    expect(maxAbs({ thresholding: true, sampleMaxValue: 1.5 })).toBeLessThanOrEqual(1);
    const finals = [false, true].map((thresholding) => {
      const out = sampleGaussian({ predictX0: false, thresholding, finalSigmasType: 'sigma_min' }, 8, x, 3);
      const values = Array.from(out.dataSync());
      out.dispose();
      return values;
    });
    expect(finals[1]).toEqual(finals[0]);
    x.dispose();
  });

  it("DPM-Solver's solver types become bh2, as diffusers' constructor makes them", () => {
    const s = schedulerFromConfig({ _class_name: CLASS, solver_type: 'midpoint' });
    expect(s.config.solver_type).toBe('bh2');
    expect(new UniPCMultistepScheduler({ solverType: 'heun' }).config.solver_type).toBe('bh2');
    expect(gainError({ solverType: 'logrho' }, 10)).toBe(gainError({ solverType: 'bh2' }, 10));
  });

  it('the predictor and corrector orders: warm-up, lowerOrderFinal, disableCorrector', () => {
    const orders = (options: UniPCMultistepSchedulerOptions, n: number) => {
      const seen: [number, number, boolean][] = [];
      const x = tf.ones([1, 1, 1, 2]);
      const input: number[][] = [];
      sampleGaussian(options, n, x, 0.5, (out) => {
        const corrected = Array.from(out.correctedSample.dataSync());
        seen.push([out.order, out.correctorOrder, input.length > 0 && corrected.every((v, k) => v === input[input.length - 1]![k])]);
        input.push(Array.from(out.prevSample.dataSync()));
      }).dispose();
      x.dispose();
      return seen;
    };
    expect(orders({ solverOrder: 3 }, 5).map(([p, c]) => [p, c])).toEqual([[1, 0], [2, 1], [3, 2], [2, 3], [1, 2]]);
    expect(orders({ solverOrder: 3, lowerOrderFinal: false, finalSigmasType: 'sigma_min' }, 5).map(([p]) => p)).toEqual([1, 2, 3, 3, 3]);
    // disableCorrector [0, 2]: no correction at steps 1 and 3, where the corrected sample is the input.
    const disabled = orders({ disableCorrector: [0, 2] }, 5);
    expect(disabled.map(([, c]) => c)).toEqual([0, 0, 2, 0, 2]);
    expect(disabled.map(([, , same]) => same)).toEqual([false, true, false, true, false]);
  });
});

describe('tensors', () => {
  it('a loop leaks nothing, reads nothing back, never disposes its inputs, and setTimesteps / dispose free the history', () => {
    const s = new UniPCMultistepScheduler({ solverOrder: 3, predictionType: 'sample' });
    const before = tf.memory().numTensors;
    s.setTimesteps(6);
    const x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 5);
    let sample = x.clone();
    for (const t of Array.from(s.timesteps).slice(0, 4)) {
      const m = tf.mul(sample, 0.5);
      let out: UniPCStepOutput | undefined;
      expect(countReadbacks(() => (out = s.step(m, t, sample)))).toBe(0);
      expect(out!.convertedModelOutput).not.toBe(m); // x̂_0 is the output itself here, but a copy
      expect(m.isDisposed || sample.isDisposed).toBe(false);
      tf.dispose([sample, m, out!.convertedModelOutput, out!.correctedSample]);
      sample = out!.prevSample;
    }
    // The history: 3 outputs and the last sample.
    expect(tf.memory().numTensors).toBe(before + 2 + 4);
    s.setTimesteps(6);
    expect(tf.memory().numTensors).toBe(before + 2);
    const t0 = s.timesteps[0]!;
    disposeOutput(s.step(sample, t0, sample));
    s.dispose();
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, sample]);
  });
});
