import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DifflibError,
  GaussianDiffusion,
  LossSecondMomentResampler,
  NoiseSchedule,
  UniformSampler,
  betasForAlphaBar,
  discretizedGaussianLogLikelihood,
  namedBetaSchedule,
  normalKl,
  spaceTimesteps,
  timestepEmbedding,
  type DiffusionModel,
  type GaussianDiffusionOptions,
} from '../src/index';
import { useBackend } from './backends';
import { expectDifflibError } from './helpers';

const base: GaussianDiffusionOptions = {
  betas: namedBetaSchedule('cosine', 1000),
  modelMeanType: 'epsilon',
  modelVarType: 'learned_range',
  lossType: 'rescaled_mse',
};
const diffusion = new GaussianDiffusion(base);
/** Returns C channels where learned_range needs 2C: the mistake a user makes first. */
const meanOnlyModel: DiffusionModel = (x) => tf.zerosLike(x);

describe('bad input is a DifflibError naming the function and argument, made before any tensor', () => {
  let x: tf.Tensor;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.zeros([2, 4, 4, 3]);
  });
  afterAll(() => x.dispose());

  describe('timesteps', () => {
    it('t with more entries than the batch', () => {
      const e = expectDifflibError(() => diffusion.qSample(x, [1, 2, 3]), 'qSample', 't', 'SHAPE_MISMATCH');
      expect(e.message).toBe('qSample: t has 3 entries but xStart has batch 2');
    });
    it('a t tensor of the wrong length', () => {
      const t = tf.tensor1d([1], 'int32');
      expectDifflibError(() => diffusion.pSample(meanOnlyModel, x, t), 'pSample', 't', 'SHAPE_MISMATCH');
      t.dispose();
    });
    it('t equal to T (one past the last step)', () => {
      const e = expectDifflibError(() => diffusion.qSample(x, [0, 1000]), 'qSample', 't', 'OUT_OF_RANGE');
      expect(e.message).toContain('[0, 999], got 1000');
    });
    it('a negative t', () => {
      expectDifflibError(() => diffusion.trainingLosses(meanOnlyModel, x, [-1, 3]), 'trainingLosses', 't', 'OUT_OF_RANGE');
    });
    it('a fractional t', () => {
      expectDifflibError(() => diffusion.qMeanVariance(x, [1.5, 2]), 'qMeanVariance', 't', 'INVALID_ARGUMENT');
    });
    it('a float32 t tensor', () => {
      const t = tf.tensor1d([1, 2]);
      const e = expectDifflibError(() => diffusion.qSample(x, t), 'qSample', 't', 'INVALID_ARGUMENT');
      expect(e.message).toContain('(dtype int32), got dtype float32');
      t.dispose();
    });
    it('a 2-D t tensor', () => {
      const t = tf.tensor2d([[1], [2]], [2, 1], 'int32');
      expectDifflibError(() => diffusion.qSample(x, t as unknown as tf.Tensor1D), 'qSample', 't', 'SHAPE_MISMATCH');
      t.dispose();
    });
    it('a string instead of integers', () => {
      expectDifflibError(() => diffusion.qSample(x, '5' as unknown as number[]), 'qSample', 't', 'INVALID_ARGUMENT');
    });
  });

  describe('tensors', () => {
    it('model output with C channels under learned variance (needs 2C)', () => {
      const e = expectDifflibError(
        () => diffusion.pMeanVariance(meanOnlyModel, x, [1, 2]),
        'pMeanVariance',
        'model output',
        'SHAPE_MISMATCH',
      );
      expect(e.message).toContain('needs 2C = 6 channels');
    });
    it('model output with 2C channels under a fixed variance', () => {
      const d = new GaussianDiffusion({ ...base, modelVarType: 'fixed_small' });
      const model: DiffusionModel = (xt) => tf.concat([xt, xt], -1);
      expectDifflibError(() => d.trainingLosses(model, x, [1, 2]), 'trainingLosses', 'model output', 'SHAPE_MISMATCH');
    });
    it('x_t of another shape than x_0', () => {
      const xT = tf.zeros([2, 4, 4, 1]);
      expectDifflibError(() => diffusion.qPosteriorMeanVariance(x, xT, [1, 2]), 'qPosteriorMeanVariance', 'xt', 'SHAPE_MISMATCH');
      xT.dispose();
    });
    it('noise of another shape than the data', () => {
      const noise = tf.zeros([2, 4, 4, 1]);
      expectDifflibError(() => diffusion.qSample(x, [1, 2], noise), 'qSample', 'noise', 'SHAPE_MISMATCH');
      expectDifflibError(() => diffusion.pSample(meanOnlyModel, x, [1, 2], { noise }), 'pSample', 'noise', 'SHAPE_MISMATCH');
      noise.dispose();
    });
    it('an array instead of a tensor, and a disposed tensor', () => {
      expectDifflibError(() => diffusion.qSample([[1, 2]] as unknown as tf.Tensor, [1]), 'qSample', 'xStart', 'INVALID_ARGUMENT');
      const gone = tf.zeros([2, 3]);
      gone.dispose();
      expectDifflibError(() => diffusion.priorBpd(gone), 'priorBpd', 'xStart', 'INVALID_ARGUMENT');
    });
    it('data without a batch axis', () => {
      const flat = tf.zeros([3]);
      expectDifflibError(() => diffusion.qSample(flat, [1]), 'qSample', 'xStart', 'SHAPE_MISMATCH');
      flat.dispose();
    });
    it('int32 data', () => {
      const ints = tf.zeros([2, 3], 'int32');
      expectDifflibError(() => diffusion.qSample(ints, [1, 2]), 'qSample', 'xStart', 'INVALID_ARGUMENT');
      ints.dispose();
    });
    it('a model that is not a function', () => {
      expectDifflibError(() => diffusion.pSample({} as DiffusionModel, x, [1, 2]), 'pSample', 'model', 'INVALID_ARGUMENT');
    });
    it('eta other than 0 for the reverse DDIM step, and a negative eta', () => {
      expectDifflibError(() => diffusion.ddimReverseSample(meanOnlyModel, x, [1, 2], { eta: 1 }), 'ddimReverseSample', 'options.eta');
      expectDifflibError(() => diffusion.ddimSample(meanOnlyModel, x, [1, 2], { eta: -0.5 }), 'ddimSample', 'options.eta');
    });
    it('loss arguments whose shapes do not broadcast', () => {
      const a = tf.zeros([2, 3]);
      const b = tf.zeros([2, 4]);
      expectDifflibError(() => normalKl(a, b, 0, 0), 'normalKl', 'logvar1', 'SHAPE_MISMATCH');
      expectDifflibError(() => normalKl(0, 0, 0, 0), 'normalKl', 'mean1', 'INVALID_ARGUMENT');
      expectDifflibError(() => discretizedGaussianLogLikelihood(a, { means: b, logScales: a }), 'discretizedGaussianLogLikelihood', 'params.means');
      tf.dispose([a, b]);
    });
    it('timestep embedding of a 2-D t or a bad width', () => {
      const t = tf.tensor1d([1, 2], 'int32');
      expectDifflibError(() => timestepEmbedding(t, 0), 'timestepEmbedding', 'dim');
      expectDifflibError(() => timestepEmbedding(t, 8.5), 'timestepEmbedding', 'dim');
      t.dispose();
    });
  });

  describe('schedules and the process', () => {
    for (const [label, betas, index] of [
      ['a beta above 1', [0.1, 1.5], 1],
      ['a zero beta', [0, 0.1], 0],
      ['a negative beta', [0.1, -0.2], 1],
      ['a NaN beta', [0.1, NaN], 1],
      ['an infinite beta', [Infinity, 0.1], 0],
    ] as const) {
      it(`betas with ${label}`, () => {
        const e = expectDifflibError(() => new GaussianDiffusion({ ...base, betas }), 'GaussianDiffusion', 'options.betas', 'INVALID_ARGUMENT');
        expect(e.message).toContain(`at index ${index}`);
      });
    }
    it('the linear schedule at T = 10, whose betas exceed 1 (the reference refuses it too)', () => {
      expectDifflibError(() => new GaussianDiffusion({ ...base, betas: namedBetaSchedule('linear', 10) }), 'GaussianDiffusion', 'options.betas');
    });
    it('an empty schedule, and a single step', () => {
      expectDifflibError(() => new GaussianDiffusion({ ...base, betas: [] }), 'GaussianDiffusion', 'options.betas');
      expectDifflibError(() => NoiseSchedule.fromBetas([]), 'NoiseSchedule.fromBetas', 'betas');
      expectDifflibError(() => new GaussianDiffusion({ ...base, betas: [0.5] }), 'GaussianDiffusion', 'options.betas');
    });
    it('both betas and a schedule, or neither', () => {
      const schedule = NoiseSchedule.named('cosine', 10);
      expectDifflibError(() => new GaussianDiffusion({ ...base, schedule }), 'GaussianDiffusion', 'options.betas');
      const { betas: _unused, ...noBetas } = base;
      expectDifflibError(() => new GaussianDiffusion(noBetas), 'GaussianDiffusion', 'options.betas');
    });
    it('unknown enum strings', () => {
      expectDifflibError(() => new GaussianDiffusion({ ...base, modelMeanType: 'eps' as never }), 'GaussianDiffusion', 'options.modelMeanType', 'UNKNOWN_OPTION');
      expectDifflibError(() => new GaussianDiffusion({ ...base, modelVarType: 'LEARNED_RANGE' as never }), 'GaussianDiffusion', 'options.modelVarType', 'UNKNOWN_OPTION');
      expectDifflibError(() => new GaussianDiffusion({ ...base, lossType: 'l2' as never }), 'GaussianDiffusion', 'options.lossType', 'UNKNOWN_OPTION');
      const e = expectDifflibError(() => namedBetaSchedule('quadratic' as never, 100), 'namedBetaSchedule', 'name', 'UNKNOWN_OPTION');
      expect(e.message).toContain("'linear', 'cosine', 'scaled_linear', 'sigmoid'");
    });
    it('a step count that is not a positive integer', () => {
      expectDifflibError(() => namedBetaSchedule('cosine', 0), 'namedBetaSchedule', 'numTimesteps');
      expectDifflibError(() => namedBetaSchedule('cosine', 10.5), 'namedBetaSchedule', 'numTimesteps');
      expectDifflibError(() => betasForAlphaBar(10, (t) => 1 - t, 1.5), 'betasForAlphaBar', 'maxBeta');
    });
    it('"ddimN" that no integer stride meets', () => {
      const e = expectDifflibError(() => spaceTimesteps(10, 'ddim7'), 'spaceTimesteps', 'sectionCounts', 'UNSATISFIABLE');
      expect(e.message).toContain('no integer stride gives exactly 7 of 10 steps');
      expectDifflibError(() => new GaussianDiffusion({ ...base, betas: namedBetaSchedule('cosine', 10), useTimesteps: 'ddim7' }), 'GaussianDiffusion', 'options.useTimesteps', 'UNSATISFIABLE');
    });
    it('malformed section counts, and more steps than a section has', () => {
      expectDifflibError(() => spaceTimesteps(100, 'ddimX'), 'spaceTimesteps', 'sectionCounts', 'INVALID_ARGUMENT');
      expectDifflibError(() => spaceTimesteps(100, '10,x'), 'spaceTimesteps', 'sectionCounts', 'INVALID_ARGUMENT');
      expectDifflibError(() => spaceTimesteps(100, ''), 'spaceTimesteps', 'sectionCounts', 'INVALID_ARGUMENT');
      expectDifflibError(() => spaceTimesteps(10, '20'), 'spaceTimesteps', 'sectionCounts', 'UNSATISFIABLE');
    });
    it('useTimesteps outside the process', () => {
      expectDifflibError(() => new GaussianDiffusion({ ...base, useTimesteps: [0, 1000] }), 'GaussianDiffusion', 'options.useTimesteps', 'OUT_OF_RANGE');
    });
    it('timestep samplers', () => {
      expectDifflibError(() => new UniformSampler(0), 'UniformSampler', 'numTimesteps');
      expectDifflibError(() => new UniformSampler(10).sample(0), 'UniformSampler.sample', 'batchSize');
      const sampler = new LossSecondMomentResampler(10);
      expectDifflibError(() => sampler.updateWithAllLosses([1, 2], [0.5]), 'LossSecondMomentResampler.updateWithAllLosses', 'losses');
      expectDifflibError(() => sampler.updateWithAllLosses([10], [0.5]), 'LossSecondMomentResampler.updateWithAllLosses', 'timesteps');
      expectDifflibError(() => sampler.updateWithAllLosses([1], [NaN]), 'LossSecondMomentResampler.updateWithAllLosses', 'losses');
    });
  });

  it('is an Error with a code', () => {
    const e = expectDifflibError(() => spaceTimesteps(10, 'ddim7'), 'spaceTimesteps', 'sectionCounts');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('DifflibError');
    expect(e).toBeInstanceOf(DifflibError);
  });
});

describe('one seed rule everywhere: an integer in [0, 2^32)', () => {
  beforeAll(() => useBackend('cpu'));

  it('every function that takes a seed refuses the same values, naming options.seed', async () => {
    const { DDIMScheduler, annealedLangevinDynamics, denoisingScoreMatchingLoss, eightGaussians, geometricSigmas, sampleProgressive } = await import('../src/index');
    const x = tf.zeros([2, 4, 4, 1]);
    const model2C: DiffusionModel = (xt) => tf.concat([tf.zerosLike(xt), tf.zerosLike(xt)], -1);
    const eps = tf.zeros([2, 4, 4, 1]);
    const ddim = new DDIMScheduler();
    ddim.setTimesteps(4);
    const sigmas = geometricSigmas(1, 0.1, 3);
    const calls: Array<[string, (seed: number) => unknown]> = [
      ['qSample', (seed) => diffusion.qSample(x, [1, 2], undefined, { seed })],
      ['pSample', (seed) => diffusion.pSample(model2C, x, [1, 2], { seed })],
      ['ddimSample', (seed) => diffusion.ddimSample(model2C, x, [1, 2], { seed })],
      ['trainingLosses', (seed) => diffusion.trainingLosses(model2C, x, [1, 2], { seed })],
      ['calcBpdLoop', (seed) => diffusion.calcBpdLoop(model2C, x, { seed })],
      ['UniformSampler.sample', (seed) => new UniformSampler(10).sample(2, { seed })],
      ['sampleProgressive', (seed) => sampleProgressive(diffusion, model2C, [2, 4, 4, 1], { seed })],
      ['DDIMScheduler.step', (seed) => ddim.step(eps, ddim.timesteps[0]!, x, { seed, eta: 1 })],
      ['denoisingScoreMatchingLoss', (seed) => denoisingScoreMatchingLoss((xt) => tf.zerosLike(xt), x, [0, 1], sigmas, { seed })],
      ['eightGaussians', (seed) => eightGaussians(4, { seed })],
    ];
    for (const [fn, call] of calls) {
      for (const bad of [-1, 0.5, 2 ** 32, Number.NaN, '1' as unknown as number]) {
        expectDifflibError(() => call(bad), fn, 'options.seed', 'INVALID_ARGUMENT');
      }
    }
    // The one async function: it rejects instead.
    await expect(annealedLangevinDynamics((xt) => tf.zerosLike(xt), x, sigmas, { seed: 0.5 })).rejects.toMatchObject({
      functionName: 'annealedLangevinDynamics',
      argument: 'options.seed',
    });
    // The largest seed is accepted.
    tf.dispose(diffusion.qSample(x, [1, 2], undefined, { seed: 2 ** 32 - 1 }));
    tf.dispose([x, eps]);
  });
});
