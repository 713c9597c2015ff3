/// <reference types="vite/client" />
// torch.save files fetched and read in Chromium: the reader uses nothing of Node's (no
// node: imports, no Buffer), and the U-Net loaded from .pt bytes gives PyTorch's output on webgl.
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTorchCheckpoint } from '../../src/index';
import { torchFixture, torchFixtureTensors, torchUNetCase } from '../io/torch-fixtures';
import { defineTorchUNetSuite } from '../io/torch-unet-suite';
import { useWebGL } from './setup-webgl';

const unetCase = await torchUNetCase();
const weights = { 'unet_fp32.pt': await torchFixture('unet_fp32.pt'), 'unet_fp16.pt': await torchFixture('unet_fp16.pt') };
const views = await torchFixture('views.pt');
const expectedViews = await torchFixtureTensors('views.json');

describe('readTorchCheckpoint in the browser', () => {
  it("rebuilds views.pt's tensors as PyTorch made them contiguous", () => {
    const sd = readTorchCheckpoint(views.slice().buffer); // an ArrayBuffer, as fetch gives
    expect([...sd.keys()]).toEqual(Object.keys(expectedViews));
    for (const [name, t] of Object.entries(expectedViews)) {
      const got = sd.get(name)!;
      expect(got.shape, name).toEqual(t.shape);
      const expected = t.dtype === 'int64' ? t.data.map((v) => BigInt(v)) : t.data.map(Number);
      expect(Array.from(got.data as ArrayLike<number | bigint>), name).toEqual(expected);
    }
  });
});

describe('loadTorchStateDict on .pt files fetched by the browser, webgl backend', () => {
  beforeAll(() => useWebGL());
  defineTorchUNetSuite(unetCase, weights);
});
