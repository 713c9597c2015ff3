import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GaussianDiffusion,
  NearestUpsampling2D,
  QKVAttention,
  createUNet,
  exportTorchStateDict,
  loadTorchStateDict,
  namedBetaSchedule,
  readSafetensors,
  writeSafetensors,
  type UNetConfig,
} from '../../src/index';
import { useBackend } from '../backends';
import { loadUNetCase } from '../reference/load';
import { expectDifflibError, expectNoLeak } from '../helpers';

const small: UNetConfig = {
  imageSize: 8,
  inChannels: 3,
  modelChannels: 32,
  outChannels: 6,
  numResBlocks: 1,
  attentionResolutions: [2],
  channelMult: [1, 2],
  numHeads: 2,
  learnSigma: true,
};

function randomize(model: tfl.LayersModel, seed: number): void {
  model.weights.forEach((w, i) => {
    const value = tf.randomNormal(w.shape as number[], 0, 0.1, 'float32', seed + i);
    w.write(value);
    value.dispose();
  });
}

describe('createUNet', () => {
  beforeAll(() => useBackend('cpu'));

  describe('refuses bad configurations at construction', () => {
    it('an empty channelMult', () => {
      expectDifflibError(() => createUNet({ ...small, channelMult: [] }), 'createUNet', 'config.channelMult');
    });
    it('an image size not divisible by 2^(levels − 1)', () => {
      const e = expectDifflibError(() => createUNet({ ...small, imageSize: 10, channelMult: [1, 2, 2] }), 'createUNet', 'config.imageSize');
      expect(e.message).toContain('2^(levels − 1) = 4');
    });
    it('attention at a factor that does not occur', () => {
      expectDifflibError(() => createUNet({ ...small, attentionResolutions: [4] }), 'createUNet', 'config.attentionResolutions');
      // A resolution (16) instead of a factor: the mistake guided-diffusion's create_model avoids.
      expectDifflibError(() => createUNet({ ...small, attentionResolutions: [16] }), 'createUNet', 'config.attentionResolutions');
    });
    it('heads that do not divide the channels', () => {
      expectDifflibError(() => createUNet({ ...small, numHeads: 3 }), 'createUNet', 'config.numHeads');
      expectDifflibError(() => createUNet({ ...small, numHeadChannels: 24 }), 'createUNet', 'config.numHeadChannels');
      expectDifflibError(() => createUNet({ ...small, numHeadsUpsample: 5 }), 'createUNet', 'config.numHeadsUpsample');
    });
    it('odd outChannels with learned variance', () => {
      expectDifflibError(() => createUNet({ ...small, outChannels: 3 }), 'createUNet', 'config.outChannels');
    });
    it('channels that GroupNorm(32) cannot split', () => {
      expectDifflibError(() => createUNet({ ...small, modelChannels: 48, channelMult: [1], attentionResolutions: [] }), 'createUNet', 'config.modelChannels');
    });
    it('missing or fractional sizes', () => {
      expectDifflibError(() => createUNet({ ...small, numResBlocks: 0 }), 'createUNet', 'config.numResBlocks');
      expectDifflibError(() => createUNet({ ...small, imageSize: 7.5 }), 'createUNet', 'config.imageSize');
    });
  });

  describe('forward', () => {
    let unet: ReturnType<typeof createUNet>;
    let x: tf.Tensor;
    let t: tf.Tensor1D;
    beforeAll(() => {
      unet = createUNet(small);
      x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
      t = tf.tensor1d([3, 999], 'int32');
    });
    afterAll(() => {
      tf.dispose([x, t]);
      unet.dispose();
    });

    it('is a diffusion model function and leaks nothing', () => {
      const diffusion = new GaussianDiffusion({
        betas: namedBetaSchedule('cosine', 1000),
        modelMeanType: 'epsilon',
        modelVarType: 'learned_range',
        lossType: 'rescaled_mse',
      });
      expectNoLeak(() => unet.forward(x, t));
      expectNoLeak(() => diffusion.trainingLosses(unet.forward, x, [3, 999]));
      expectNoLeak(() => diffusion.pSample(unet.forward, x, t));
    });

    it('rejects inputs of the wrong shape or a label for an unconditional model', () => {
      const wrong = tf.zeros([2, 16, 16, 3]);
      expectDifflibError(() => unet.forward(wrong, t), 'UNet.forward', 'x', 'SHAPE_MISMATCH');
      wrong.dispose();
      const short = tf.tensor1d([1], 'int32');
      expectDifflibError(() => unet.forward(x, short), 'UNet.forward', 't', 'SHAPE_MISMATCH');
      expectDifflibError(() => unet.forward(x, t, { y: short }), 'UNet.forward', 'y');
      short.dispose();
    });

    it('a class-conditional model needs labels and uses them', () => {
      const conditional = createUNet({ ...small, numClasses: 10 });
      expectDifflibError(() => conditional.forward(x, t), 'UNet.forward', 'y');
      const a = tf.tensor1d([0, 1], 'int32');
      const b = tf.tensor1d([5, 1], 'int32');
      // With PyTorch-style zero-initialised output convs the output is 0; give it weights.
      randomize(conditional.model, 7);
      const outA = conditional.forward(x, t, { y: a });
      const outB = conditional.forward(x, t, { y: b });
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(outA, outB)), [1, 2, 3]).dataSync());
      expect(diff[0]).toBeGreaterThan(0); // label changed
      expect(diff[1]).toBe(0); // label unchanged
      tf.dispose([a, b, outA, outB]);
      conditional.dispose();
    });
  });

  it('attention gives the same result for the legacy and the new qkv channel order', () => {
    const [heads, ch] = [2, 4];
    const legacy = tf.randomNormal([2, 3, 3, 3 * heads * ch], 0, 1, 'float32', 30);
    // legacy channels are [head, (q|k|v), c]; the new order is [(q|k|v), head, c].
    const perm = Array.from({ length: 3 * heads * ch }, (_, i) => {
      const [j, h, c] = [Math.floor(i / (heads * ch)), Math.floor(i / ch) % heads, i % ch];
      return (h * 3 + j) * ch + c;
    });
    const reordered = tf.gather(legacy, tf.tensor1d(perm, 'int32'), 3);
    const a = new QKVAttention({ numHeads: heads, order: 'legacy' }).apply(legacy) as tf.Tensor;
    const b = new QKVAttention({ numHeads: heads, order: 'new' }).apply(reordered) as tf.Tensor;
    expect(a.shape).toEqual([2, 3, 3, heads * ch]);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBeLessThan(1e-6);
    // and heads do not mix: changing head 1's inputs leaves head 0's output alone.
    const mask = tf.tensor1d(Array.from({ length: 3 * heads * ch }, (_, i) => (Math.floor(i / (3 * ch)) === 1 ? 2 : 1)));
    const c = new QKVAttention({ numHeads: heads, order: 'legacy' }).apply(tf.mul(legacy, mask)) as tf.Tensor;
    const head0 = (t: tf.Tensor) => tf.slice(t, [0, 0, 0, 0], [2, 3, 3, ch]);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(head0(a), head0(c)))).dataSync()[0])).toBeLessThan(1e-6);
    tf.dispose([legacy, reordered, a, b, mask, c]);
  });

  it('applies dropout only when training', () => {
    const unet = createUNet({ ...small, dropout: 0.5 });
    randomize(unet.model, 21);
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 22);
    const t = tf.tensor1d([40], 'int32');
    const [evalA, evalB, train] = [false, false, true].map((training) => unet.forward(x, t, { training }));
    const diff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
    expect(diff(evalA!, evalB!)).toBe(0);
    expect(diff(evalA!, train!)).toBeGreaterThan(1e-3);
    tf.dispose([x, t, evalA!, evalB!, train!]);
    unet.dispose();
  });

  it('upsamples like PyTorch nearest and sends each output gradient to its source pixel, for every batch element', () => {
    const layer = new NearestUpsampling2D({});
    const x = tf.randomNormal([3, 2, 3, 2], 0, 1, 'float32', 9);
    const w = tf.randomNormal([3, 4, 6, 2], 0, 1, 'float32', 10);
    const up = layer.apply(x) as tf.Tensor;
    const [xv, uv] = [x.arraySync() as number[][][][], up.arraySync() as number[][][][]];
    for (let b = 0; b < 3; b++) for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) {
      expect(uv[b]![i]![j]).toEqual(xv[b]![i >> 1]![j >> 1]);
    }
    // d/dx Σ w·up(x) is the sum of w over each 2×2 block.
    const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, w)))(x);
    const blocks = tf.tidy(() => tf.mul(tf.avgPool(w as tf.Tensor4D, 2, 2, 'valid'), 4));
    expect(Array.from(grad.dataSync()).map((v) => v.toFixed(4))).toEqual(Array.from(blocks.dataSync()).map((v) => v.toFixed(4)));
    tf.dispose([x, w, up, grad, blocks]);
  });

  describe('weights', () => {
    it('round-trips through tfjs model.save / tf.loadLayersModel bit for bit', async () => {
      const unet = createUNet({ ...small, useScaleShiftNorm: true, resblockUpdown: true, useNewAttentionOrder: true });
      randomize(unet.model, 3);
      let saved: tf.io.ModelArtifacts | undefined;
      await unet.model.save(tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
      expect(loaded.weights.map((w) => w.originalName)).toEqual(unet.model.weights.map((w) => w.originalName));
      unet.model.weights.forEach((w, i) => {
        expect(Array.from(loaded.weights[i]!.read().dataSync())).toEqual(Array.from(w.read().dataSync()));
      });
      const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 4);
      const t = tf.tensor2d([[17]]);
      const a = unet.model.predict([x, t]) as tf.Tensor;
      const b = loaded.predict([x, t]) as tf.Tensor;
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([x, t, a, b]);
      loaded.dispose();
      unet.dispose();
    });

    it('exports a PyTorch state dict and imports it back exactly', async () => {
      const source = createUNet(small);
      randomize(source.model, 11);
      const bytes = exportTorchStateDict(source, { format: 'pt' });
      const file = readSafetensors(bytes);
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.tensors.get('input_blocks.0.0.weight')?.shape).toEqual([32, 3, 3, 3]);
      expect(file.tensors.get('input_blocks.3.1.qkv.weight')?.shape).toEqual([192, 64, 1]);
      expect(file.tensors.get('time_embed.0.weight')?.shape).toEqual([128, 32]);
      const target = createUNet(small);
      loadTorchStateDict(target, bytes);
      source.model.weights.forEach((w, i) => {
        expect(Array.from(target.model.weights[i]!.read().dataSync())).toEqual(Array.from(w.read().dataSync()));
      });
      source.dispose();
      target.dispose();
    });

    it('imports exactly from a Node Buffer whose data is unaligned in its ArrayBuffer', () => {
      const source = createUNet(small);
      randomize(source.model, 12);
      // A Buffer subarray at an odd offset of a pooled allocation, as Buffer.concat and small
      // readFileSync calls give: every tensor's data sits at an unaligned address.
      const bytes = Buffer.concat([Buffer.alloc(3, 0xff), Buffer.from(exportTorchStateDict(source))]).subarray(3);
      const target = createUNet(small);
      loadTorchStateDict(target, bytes);
      source.model.weights.forEach((w, i) => {
        expect(Array.from(target.model.weights[i]!.read().dataSync()), w.name).toEqual(Array.from(w.read().dataSync()));
      });
      source.dispose();
      target.dispose();
    });

    it('exports the reference weights back to the very tensors PyTorch saved', async () => {
      const { case: c, weights } = await loadUNetCase('improved');
      const kwargs = (c.config as Record<string, Record<string, unknown>>).constructor_kwargs!;
      const unet = createUNet({
        imageSize: 8,
        inChannels: kwargs.in_channels as number,
        modelChannels: kwargs.model_channels as number,
        outChannels: kwargs.out_channels as number,
        numResBlocks: kwargs.num_res_blocks as number,
        attentionResolutions: kwargs.attention_resolutions as number[],
        channelMult: kwargs.channel_mult as number[],
        numHeads: kwargs.num_heads as number,
      });
      loadTorchStateDict(unet, weights);
      const original = readSafetensors(weights).tensors;
      const exported = readSafetensors(exportTorchStateDict(unet)).tensors;
      expect([...exported.keys()].sort()).toEqual([...original.keys()].sort());
      for (const [name, t] of original) {
        const e = exported.get(name)!;
        expect(e.shape, name).toEqual(t.shape);
        expect(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
      }
      unet.dispose();
    });

    it('refuses a state dict with missing, unexpected or mis-shaped keys, changing nothing', () => {
      const unet = createUNet(small);
      const bytes = exportTorchStateDict(unet);
      const tensors = new Map(readSafetensors(bytes).tensors);
      tensors.delete('out.2.bias');
      tensors.set('extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
      const skip = tensors.get('input_blocks.3.0.skip_connection.weight')!;
      tensors.set('input_blocks.3.0.skip_connection.weight', { dtype: 'F32', shape: [64, 32], data: skip.data as Float32Array });
      const before = unet.model.weights.map((w) => w.read().dataSync().slice());
      const e = expectDifflibError(() => loadTorchStateDict(unet, writeSafetensors(tensors)), 'loadTorchStateDict', 'weights');
      expect(e.message).toContain('missing keys: out.2.bias');
      expect(e.message).toContain('unexpected keys: extra.weight');
      expect(e.message).toContain('mis-shaped keys: input_blocks.3.0.skip_connection.weight (expected [64,32,1,1], got [64,32])');
      unet.model.weights.forEach((w, i) => expect(Array.from(w.read().dataSync())).toEqual(Array.from(before[i]!)));
      unet.dispose();
    });
  });
});
