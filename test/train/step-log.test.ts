/** The per-quartile log (improved-diffusion's log_loss_dict) and the learning-rate schedule. */
import { beforeAll, describe, expect, test } from 'vitest';
import { learningRateAt, logKeyValues } from '../../src/train';
import { buildStepLog } from '../../src/train/step-log';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

beforeAll(async () => {
  await useBackend('cpu'); // expectDifflibError counts tensors
});

describe('buildStepLog', () => {
  // T = 8: quartiles are t ∈ {0,1}, {2,3}, {4,5}, {6,7}.
  const log = buildStepLog({
    step: 4,
    samples: 25,
    lr: 1e-4,
    gradNorm: 2.5,
    clipped: false,
    numTimesteps: 8,
    timesteps: [0, 1, 7, 3, 6],
    weights: [1, 2, 1, 1, 0.5],
    terms: { loss: [1, 2, 3, 4, 5], mse: [0.5, 0.5, 0.5, 0.5, 0.5] },
  });

  test('means and quartile means are of the importance-weighted values', () => {
    // w·L = [1, 4, 3, 4, 2.5]
    expect(log.loss.mean).toBeCloseTo(14.5 / 5, 12);
    expect(log.loss.quartiles).toEqual([2.5, 4, null, 2.75]);
    expect(log.quartileCounts).toEqual([2, 1, 0, 2]);
    expect(log.mse!.quartiles).toEqual([0.75, 0.5, null, 0.375]);
    expect(log.vb).toBeUndefined();
  });

  test('logKeyValues gives improved-diffusion names, with only the quartiles that have examples', () => {
    const kv = logKeyValues(log);
    expect(Object.keys(kv).sort()).toEqual(
      ['grad_norm', 'loss', 'loss_q0', 'loss_q1', 'loss_q3', 'lr', 'mse', 'mse_q0', 'mse_q1', 'mse_q3', 'samples', 'step'].sort(),
    );
    expect(kv['loss_q3']).toBe(2.75);
    expect(kv['grad_norm']).toBe(2.5);
  });
});

describe('learningRateAt', () => {
  test('warms up linearly from η/W to η over W steps, then holds', () => {
    const schedule = { lr: 0.01, warmupSteps: 4, lrAnnealSteps: 0 };
    expect([0, 1, 2, 3, 4, 100].map((s) => learningRateAt(s, schedule))).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
  });

  test('anneals linearly to 0 at lrAnnealSteps (improved-diffusion), combined with warmup', () => {
    const schedule = { lr: 1, warmupSteps: 0, lrAnnealSteps: 10 };
    expect([0, 5, 10, 12].map((s) => learningRateAt(s, schedule))).toEqual([1, 0.5, 0, 0]);
    expect(learningRateAt(1, { lr: 1, warmupSteps: 4, lrAnnealSteps: 10 })).toBeCloseTo(0.5 * 0.9, 15);
  });

  test('refuses a negative or fractional step', () => {
    expectDifflibError(() => learningRateAt(-1, { lr: 1, warmupSteps: 0, lrAnnealSteps: 0 }), 'learningRateAt', 'step');
    expectDifflibError(() => learningRateAt(1.5, { lr: 1, warmupSteps: 0, lrAnnealSteps: 0 }), 'learningRateAt', 'step');
  });
});
