/**
 * EMA: the update is rate·θ_ema + (1 − rate)·θ evaluated in float32 exactly as
 * written (so the cpu result is bit-equal to the same operations done with
 * Math.fround), and both ways of using the average leave the live weights intact.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, test } from 'vitest';
import { EMA } from '../../src/train';
import { useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';

const f = Math.fround;

beforeAll(async () => {
  await useBackend('cpu');
});

describe('EMA', () => {
  test('starts as a copy and follows θ_ema ← rate·θ_ema + (1 − rate)·θ', () => {
    const theta = tf.variable(tf.tensor1d([1, -2, 0.25]));
    const ema = new EMA([theta], 0.9);
    expect(Array.from(ema.averages[0]!.dataSync())).toEqual([1, -2, 0.25]);
    let expected = [1, -2, 0.25];
    const targets = [[3, 0, 1], [-1, 5, 2], [0.5, 0.5, 0.5]];
    for (const target of targets) {
      theta.assign(tf.tensor1d(target));
      ema.update();
      // float32: the scalars are rounded first, then each product and the sum.
      expected = expected.map((e, i) => f(f(e * f(0.9)) + f(target[i]! * f(1 - 0.9))));
      expect(Array.from(ema.averages[0]!.dataSync())).toEqual(expected);
    }
    // The live weights are untouched by the update.
    expect(Array.from(theta.dataSync())).toEqual([0.5, 0.5, 0.5]);
    ema.dispose();
    theta.dispose();
  });

  test('warmup: update k uses min(rate, (1 + k)/(10 + k)), then the plain rate', () => {
    const theta = tf.variable(tf.tensor1d([0]));
    const ema = new EMA([theta], 0.5, { warmup: true });
    // (1 + k)/(10 + k) = 0.1, 0.1818…, 0.25, …, 0.5 at k = 8; above 0.5 afterwards.
    const decays: number[] = [];
    let expected = 0;
    for (let k = 0; k < 12; k++) {
      decays.push(ema.decay);
      theta.assign(tf.tensor1d([k + 1]));
      ema.update();
      const d = Math.min(0.5, (1 + k) / (10 + k));
      expected = f(f(expected * f(d)) + f((k + 1) * f(1 - d)));
      expect(ema.averages[0]!.dataSync()[0]).toBe(expected);
    }
    expect(ema.updates).toBe(12);
    expect(decays.slice(0, 3)).toEqual([1 / 10, 2 / 11, 3 / 12]);
    expect(decays.slice(8)).toEqual([0.5, 0.5, 0.5, 0.5]);
    // Without warmup the first update already uses the rate.
    const plain = new EMA([theta], 0.5);
    expect(plain.decay).toBe(0.5);
    tf.dispose([theta, ...ema.averages, ...plain.averages]);
  });

  test('an update reads nothing back and leaks nothing', () => {
    const theta = tf.variable(tf.randomNormal([32, 4], 0, 1, 'float32', 1));
    const ema = new EMA([theta], 0.9999);
    const before = tf.memory().numTensors;
    expect(countReadbacks(() => ema.update())).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    ema.dispose();
    theta.dispose();
  });

  test('withWeights runs with the average and restores the live weights (sync, async, on error)', async () => {
    const theta = tf.variable(tf.tensor1d([1, 1]));
    const ema = new EMA([theta], 0.5);
    theta.assign(tf.tensor1d([3, 5]));
    ema.update(); // average: [2, 3]
    const before = tf.memory().numTensors;

    expect(ema.withWeights(() => Array.from(theta.dataSync()))).toEqual([2, 3]);
    expect(Array.from(theta.dataSync())).toEqual([3, 5]);

    const seen = await ema.withWeights(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(ema.isSwappedIn).toBe(true);
      return Array.from(theta.dataSync());
    });
    expect(seen).toEqual([2, 3]);
    expect(ema.isSwappedIn).toBe(false);

    expect(() => ema.withWeights(() => { throw new Error('boom'); })).toThrow('boom');
    await expect(ema.withWeights(() => Promise.reject(new Error('later')))).rejects.toThrow('later');
    expect(Array.from(theta.dataSync())).toEqual([3, 5]);
    expect(Array.from(ema.averages[0]!.dataSync())).toEqual([2, 3]);
    expect(tf.memory().numTensors).toBe(before);
    ema.dispose();
    theta.dispose();
  });

  test('copyTo snapshots the average into another model, unaffected by later updates', () => {
    const theta = tf.variable(tf.tensor1d([1, 1]));
    const other = tf.variable(tf.tensor1d([0, 0]));
    const ema = new EMA([theta], 0.5);
    theta.assign(tf.tensor1d([3, 5]));
    ema.update();
    ema.copyTo([other]);
    expect(Array.from(other.dataSync())).toEqual([2, 3]);
    ema.update();
    expect(Array.from(other.dataSync())).toEqual([2, 3]);
    expect(Array.from(ema.averages[0]!.dataSync())).toEqual([2.5, 4]);
    ema.dispose();
    tf.dispose([theta, other]);
  });

  test('bad arguments are refused by name', () => {
    const theta = tf.variable(tf.zeros([2]));
    const wrong = tf.variable(tf.zeros([3]));
    expectDifflibError(() => new EMA([theta], 1), 'EMA', 'rate');
    expectDifflibError(() => new EMA([], 0.9), 'EMA', 'variables');
    expectDifflibError(() => new EMA([theta], 0.9, { warmup: 'yes' as never }), 'EMA', 'options.warmup');
    const ema = new EMA([theta], 0.9);
    expectDifflibError(() => ema.copyTo([wrong]), 'EMA.copyTo', 'target[0]', 'SHAPE_MISMATCH');
    expectDifflibError(() => ema.setAverages([wrong]), 'EMA.setAverages', 'values[0]', 'SHAPE_MISMATCH');
    expectDifflibError(() => ema.withWeights(42 as never), 'EMA.withWeights', 'fn');
    ema.withWeights(() => {
      expectDifflibError(() => ema.update(), 'EMA.update', 'this', 'UNSATISFIABLE');
      expectDifflibError(() => ema.withWeights(() => 0), 'EMA.withWeights', 'fn', 'UNSATISFIABLE');
    });
    ema.dispose();
    tf.dispose([theta, wrong]);
  });
});
