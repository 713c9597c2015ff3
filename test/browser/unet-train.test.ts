/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { describe, it } from 'vitest';
import { expectSameGradients, trainStep } from '../nn/unet-train-suite';
import { useWebGL } from './setup-webgl';

describe('a U-Net training step in the browser', () => {
  it('runs on webgl, with gradients equal to the cpu backend’s', async () => {
    await tf.setBackend('cpu');
    const cpu = trainStep('cpu');
    await useWebGL();
    const webgl = trainStep('webgl');
    expectSameGradients(webgl, cpu);
  });
});
