import '@tensorflow/tfjs-layers';
import { describe, it } from 'vitest';
import { useBackend } from '../backends';
import { expectSameGradients, trainStep } from './unet-train-suite';

describe('a U-Net training step', () => {
  it('runs on cpu and on wasm, with gradients equal to cpu’s', async () => {
    await useBackend('cpu');
    const cpu = trainStep('cpu');
    await useBackend('wasm');
    const wasm = trainStep('wasm');
    expectSameGradients(wasm, cpu);
  });
});
