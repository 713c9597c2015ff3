// The one sampling loop (`sample`, `sampleProgressive`) over a scheduler and over a
// GaussianDiffusion: equal to the hand-written loops, exact on Gaussian data, guidance,
// no readbacks, no leaks (also when aborted or left early), and bad input refused.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DDIMScheduler,
  GaussianDiffusion,
  classifierFreeGuidance,
  dpmSolverSample,
  namedBetaSchedule,
  sample,
  sampleProgressive,
  schedulerFromConfig,
  type DiffusionModel,
} from '../../src/index';
import { useBackend } from '../backends';
import { gaussianOracle, moments } from '../gaussian-oracle';
import { countReadbacksAsync, expectDifflibError } from '../helpers';

const base = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', 1000), modelMeanType: 'epsilon', modelVarType: 'fixed_small', lossType: 'mse' });
const MU = 0.3;
const S = 0.2;
/** 4096 values: standard error of the mean S/64 ≈ 0.003, of the std ≈ S/90. */
const SHAPE = [64, 8, 8, 1];
const tanhModel: DiffusionModel = (x) => tf.tanh(x);
/** diffusers' cosine schedule is improved-diffusion's: the oracle of `base` serves both. */
const cosineDdim = () => new DDIMScheduler({ betaSchedule: 'squaredcos_cap_v2', clipSample: false, timestepSpacing: 'trailing' });

async function collect(steps: AsyncGenerator<{ sample: tf.Tensor; t: number }>): Promise<{ last: tf.Tensor; ts: number[] }> {
  const ts: number[] = [];
  let last: tf.Tensor | null = null;
  for await (const step of steps) {
    ts.push(step.t);
    last?.dispose();
    last = tf.clone(step.sample);
  }
  return { last: last!, ts };
}

describe('sample / sampleProgressive', () => {
  let oracle: ReturnType<typeof gaussianOracle>;
  beforeAll(async () => {
    await useBackend('cpu');
    oracle = gaussianOracle(base, MU, S);
  });
  afterAll(() => oracle.dispose());

  it("drives a scheduler exactly as diffusers' pipeline loop does", async () => {
    const xT = tf.randomNormal([2, 4, 4, 1], 0, 1, 'float32', 5);
    const scheduler = new DDIMScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, clipSample: false });
    const looped = await sample(scheduler, tanhModel, [2, 4, 4, 1], { numInferenceSteps: 10, initialNoise: xT, eta: 0 });
    // By hand.
    const manual = schedulerFromConfig(scheduler.toConfig() as { _class_name: string });
    manual.setTimesteps(10);
    let x = tf.mul(xT, manual.initNoiseSigma);
    for (const t of Array.from(manual.timesteps)) {
      const out = tanhModel(manual.scaleModelInput(x, t), tf.fill([2], t, 'int32') as tf.Tensor1D);
      const { prevSample, predOriginalSample } = manual.step(out, t, x);
      tf.dispose([x, out, predOriginalSample!]);
      x = prevSample;
    }
    expect(Array.from(looped.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([xT, looped, x]);
  });

  it('drives a GaussianDiffusion exactly as pSampleLoop and ddimSampleLoop (same seeds, same x_T)', async () => {
    const d = base.respace('ddim10');
    const viaLoop = await sample(d, tanhModel, [2, 4, 4, 1], { seed: 3 });
    const viaMethod = await d.pSampleLoop(tanhModel, [2, 4, 4, 1], { seed: 3 });
    expect(Array.from(viaLoop.dataSync())).toEqual(Array.from(viaMethod.dataSync()));
    const xT = tf.randomNormal([2, 4, 4, 1], 0, 1, 'float32', 9);
    const ddimLoop = await sample(d, tanhModel, [2, 4, 4, 1], { method: 'ddim', eta: 0.5, initialNoise: xT, seed: 4 });
    const ddimMethod = await d.ddimSampleLoop(tanhModel, [2, 4, 4, 1], { eta: 0.5, noise: xT, seed: 4 });
    expect(Array.from(ddimLoop.dataSync())).toEqual(Array.from(ddimMethod.dataSync()));
    tf.dispose([viaLoop, viaMethod, xT, ddimLoop, ddimMethod]);
  });

  it("runs dpmSolverSample's DPM-Solver++(2M) as method 'dpm-solver++'", async () => {
    const d = base.respace('10');
    const viaLoop = await sample(d, tanhModel, [2, 4, 4, 1], { method: 'dpm-solver++', seed: 5 });
    const viaFunction = await dpmSolverSample(d, tanhModel, [2, 4, 4, 1], { seed: 5 });
    expect(Array.from(viaLoop.dataSync())).toEqual(Array.from(viaFunction.dataSync()));
    tf.dispose([viaLoop, viaFunction]);
  });

  it('samples Gaussian data with the exact denoiser through a scheduler (DDIM, 100 trailing steps)', async () => {
    const x0 = await sample(cosineDdim(), oracle.model, SHAPE, { numInferenceSteps: 100, seed: 1 });
    const m = moments(x0);
    expect(Math.abs(m.mean - MU)).toBeLessThan(0.016);
    expect(Math.abs(m.std - S)).toBeLessThan(0.012);
    x0.dispose();
  });

  it('yields every step in order with its timestep and x̂_0, and reports progress', async () => {
    const scheduler = cosineDdim();
    const progress: Array<[number, number]> = [];
    const seen: Array<[number, number, boolean]> = [];
    for await (const step of sampleProgressive(scheduler, tanhModel, [1, 2, 2, 1], { numInferenceSteps: 5, seed: 0, onProgress: (d, n) => progress.push([d, n]) })) {
      seen.push([step.index, step.t, step.predXStart instanceof tf.Tensor]);
      expect(step.total).toBe(5);
    }
    expect(seen).toEqual(Array.from(scheduler.timesteps, (t, i) => [i, t, true]));
    expect(progress).toEqual([1, 2, 3, 4, 5].map((d) => [d, 5]));
  });

  it('applies classifier-free guidance as the wrapped model does', async () => {
    const labelled: DiffusionModel = (x, _t, kwargs) =>
      tf.tidy(() => tf.add(tf.tanh(x), tf.reshape(tf.cast((kwargs as { y: tf.Tensor }).y, 'float32'), [-1, 1, 1, 1])));
    const y = tf.tensor1d([1, 2], 'int32');
    const guidance = { guidanceScale: 3, nullLabel: 0 };
    const a = await sample(cosineDdim(), labelled, [2, 2, 2, 1], { numInferenceSteps: 4, seed: 2, modelKwargs: { y }, guidance });
    const b = await sample(cosineDdim(), classifierFreeGuidance(labelled, guidance), [2, 2, 2, 1], { numInferenceSteps: 4, seed: 2, modelKwargs: { y } });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b, y]);
  });

  it('applies classifier guidance to ε as condition_score: ε̂ − √(1−ᾱ_t)·∇', async () => {
    const push = 0.5;
    const condFn = (x: tf.Tensor) => tf.fill(x.shape, push);
    const scheduler = cosineDdim();
    const guided = await sample(scheduler, tanhModel, [1, 2, 2, 1], { numInferenceSteps: 3, seed: 6, condFn });
    const shifted: DiffusionModel = (x, t) =>
      tf.tidy(() => {
        const alphaBar = tf.gather(tf.tensor1d(scheduler.alphasCumprod), tf.cast(t, 'int32'));
        return tf.sub(tf.tanh(x), tf.mul(tf.reshape(tf.sqrt(tf.sub(1, alphaBar)), [-1, 1, 1, 1]), push));
      });
    const byHand = await sample(cosineDdim(), shifted, [1, 2, 2, 1], { numInferenceSteps: 3, seed: 6 });
    const a = guided.dataSync();
    byHand.dataSync().forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
    tf.dispose([guided, byHand]);
  });

  it('reads nothing back inside the loop, for a scheduler and for a GaussianDiffusion', async () => {
    const reads = await countReadbacksAsync(async () => {
      tf.dispose(await sample(cosineDdim(), tanhModel, [2, 4, 4, 1], { numInferenceSteps: 10, seed: 1, eta: 1 }));
      tf.dispose(await sample(base.respace('ddim10'), tanhModel, [2, 4, 4, 1], { seed: 1 }));
    });
    expect(reads).toBe(0);
  });

  it('leaks nothing and keeps the caller x_T, when it finishes, is aborted, or is left early', async () => {
    const before = tf.memory().numTensors;
    const xT = tf.randomNormal([2, 2, 2, 1]);
    tf.dispose(await sample(cosineDdim(), tanhModel, [2, 2, 2, 1], { numInferenceSteps: 6, initialNoise: xT }));
    const controller = new AbortController();
    let done = 0;
    const run = sample(cosineDdim(), tanhModel, [2, 2, 2, 1], {
      numInferenceSteps: 20,
      signal: controller.signal,
      onProgress: (d) => {
        done = d;
        if (d === 5) controller.abort(new Error('user cancelled'));
      },
    });
    await expect(run).rejects.toThrow('user cancelled');
    expect(done).toBe(5);
    for await (const step of sampleProgressive(base.respace('ddim10'), tanhModel, [2, 2, 2, 1], { initialNoise: xT })) {
      if (step.index === 2) break;
    }
    expect(xT.isDisposed).toBe(false);
    xT.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bad arguments and options that do not apply, before making a tensor', () => {
    const ddim = cosineDdim();
    expectDifflibError(() => sampleProgressive({} as never, tanhModel, [1, 2]), 'sampleProgressive', 'sampler');
    expectDifflibError(() => sampleProgressive(ddim, 'model' as never, [1, 2], { numInferenceSteps: 2 }), 'sampleProgressive', 'model');
    expectDifflibError(() => sampleProgressive(ddim, tanhModel, [1], { numInferenceSteps: 2 }), 'sampleProgressive', 'shape');
    expectDifflibError(() => sampleProgressive(cosineDdim(), tanhModel, [1, 2]), 'sampleProgressive', 'options.numInferenceSteps');
    expectDifflibError(() => sampleProgressive(ddim, tanhModel, [1, 2], { numInferenceSteps: 0 }), 'DDIMScheduler.setTimesteps', 'numInferenceSteps');
    expectDifflibError(() => sampleProgressive(ddim, tanhModel, [1, 2], { numInferenceSteps: 2, clipDenoised: true }), 'sampleProgressive', 'options.clipDenoised');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { numInferenceSteps: 2 }), 'sampleProgressive', 'options.numInferenceSteps');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { eta: 1 }), 'sampleProgressive', 'options.eta');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { method: 'euler' as never }), 'sampleProgressive', 'options.method');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { lowerOrderFinal: false }), 'sampleProgressive', 'options.lowerOrderFinal');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { method: 'dpm-solver++', condFn: (x) => x }), 'sampleProgressive', 'options.condFn');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { seed: NaN }), 'sampleProgressive', 'options.seed');
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { onProgress: 3 as never }), 'sampleProgressive', 'options.onProgress');
    const wrong = tf.zeros([1, 3]);
    expectDifflibError(() => sampleProgressive(base, tanhModel, [1, 2], { initialNoise: wrong }), 'sampleProgressive', 'options.initialNoise');
    wrong.dispose();
    const v = new DDIMScheduler({ predictionType: 'v_prediction' });
    expectDifflibError(() => sampleProgressive(v, tanhModel, [1, 2], { numInferenceSteps: 2, condFn: (x) => x }), 'sampleProgressive', 'options.condFn');
    expectDifflibError(() => sampleProgressive(ddim, tanhModel, [1, 2], { numInferenceSteps: 2, guidance: { guidanceScale: 2 } as never }), 'classifierFreeGuidance', 'options.nullLabel');
  });
});
