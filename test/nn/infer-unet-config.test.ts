// inferUNetConfig against three kinds of truth: U-Nets createUNet builds (round trips over
// many configurations), the state dicts PyTorch saved for the reference U-Nets
// (improved-diffusion and guided-diffusion), and the structure of two released checkpoints,
// built in PyTorch from their published flags (test/fixtures/released-unets/generate.py).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createUNet,
  exportTorchStateDict,
  inferUNetConfig,
  readSafetensors,
  type StateDictEntry,
  type UNetConfig,
  type UNetConfigHints,
} from '../../src/index';
import { resolveUNetConfig } from '../../src/nn/unet-config';
import { unetStateDictShapes } from '../../src/nn/unet-state-dict-shapes';
import released from '../fixtures/released-unets/shapes.json';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { loadUNetCase, type RefValue } from '../reference/load';

type Shapes = Record<string, StateDictEntry>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** A state dict's names and shapes from a list of [name, shape] (or {name, shape}) entries. */
function shapesOf(entries: Array<[string, number[]] | { name: string; shape: number[] }>): Shapes {
  return Object.fromEntries(entries.map((e) => (Array.isArray(e) ? [e[0], { shape: e[1] }] : [e.name, { shape: e.shape }])));
}

/** UNetModel kwargs (snake_case) as UNetConfig keys; a null num_classes means none. */
function camelKwargs(kwargs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(kwargs)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase()), v]),
  );
}

/** The configuration with every default filled in, as UNet.toConfig gives it. */
function complete(config: UNetConfig): UNetConfig {
  const { numClasses, ...rest } = resolveUNetConfig(config);
  return numClasses === null ? rest : { ...rest, numClasses };
}

const base: UNetConfig = { imageSize: 8, inChannels: 3, modelChannels: 32, outChannels: 6, numResBlocks: 1, attentionResolutions: [2], channelMult: [1, 2] };

/** Configurations and the hints each needs (what its weights cannot tell). */
const ROUND_TRIPS: Array<{ name: string; config: UNetConfig; hints: UNetConfigHints }> = [
  {
    name: 'attention at factor 2, learned sigma (2C outputs)',
    config: { ...base, numHeads: 2, learnSigma: true },
    hints: { imageSize: 8, numHeads: 2, useNewAttentionOrder: false },
  },
  {
    name: 'attention only in the middle block, C outputs, two res blocks',
    config: { ...base, outChannels: 3, numResBlocks: 2, attentionResolutions: [] },
    hints: { imageSize: 8, numHeads: 1 },
  },
  {
    name: 'attention at every level, class-conditional, scale-shift norm, resblockUpdown, new order, head channels',
    config: {
      ...base,
      imageSize: 16,
      channelMult: [1, 1, 2],
      attentionResolutions: [1, 2, 4],
      numClasses: 5,
      useScaleShiftNorm: true,
      resblockUpdown: true,
      numHeadChannels: 32,
      useNewAttentionOrder: true,
      learnSigma: true,
    },
    hints: { imageSize: 16, numHeadChannels: 32, useNewAttentionOrder: true },
  },
  {
    name: 'average pooling and nearest upsampling (convResample false), three levels, dropout',
    config: { ...base, imageSize: 16, outChannels: 3, numResBlocks: 2, channelMult: [1, 2, 2], attentionResolutions: [4], convResample: false, useScaleShiftNorm: true, dropout: 0.1 },
    hints: { imageSize: 16, numHeads: 1, dropout: 0.1 },
  },
  {
    name: 'convResample false, channelMult [2, 1], attention at factor 1',
    config: { ...base, outChannels: 3, channelMult: [2, 1], attentionResolutions: [1], convResample: false, numHeads: 2, numHeadsUpsample: 1 },
    hints: { imageSize: 8, numHeads: 2, numHeadsUpsample: 1, useNewAttentionOrder: false },
  },
  {
    name: 'one level, three res blocks, one input channel with learned sigma, class-conditional',
    config: { ...base, imageSize: 4, inChannels: 1, outChannels: 2, numResBlocks: 3, channelMult: [1], attentionResolutions: [], numClasses: 10, learnSigma: true },
    hints: { imageSize: 4, numHeads: 1 },
  },
  {
    name: '2C outputs without learned sigma (hint), four heads and two upsampling heads',
    config: { ...base, attentionResolutions: [1], numHeads: 4, numHeadsUpsample: 2 },
    hints: { imageSize: 8, numHeads: 4, numHeadsUpsample: 2, useNewAttentionOrder: false, learnSigma: false },
  },
  {
    name: 'resblockUpdown with three res blocks per level, channelMult [1, 2, 3]',
    config: { ...base, imageSize: 4, numResBlocks: 3, channelMult: [1, 2, 3], attentionResolutions: [2], resblockUpdown: true, numHeads: 2, learnSigma: true },
    hints: { imageSize: 4, numHeads: 2, useNewAttentionOrder: false },
  },
];

describe('inferUNetConfig', () => {
  beforeAll(() => useBackend('cpu'));

  describe('round trip: createUNet → exportTorchStateDict → inferUNetConfig → createUNet gives the same U-Net', () => {
    for (const { name, config, hints } of ROUND_TRIPS) {
      it(name, () => {
        const unet = createUNet(config);
        const file = readSafetensors(exportTorchStateDict(unet));
        const before = tf.memory().numTensors;
        const inferred = inferUNetConfig(file, hints);
        expect(tf.memory().numTensors, 'tensors made').toBe(before);
        const rebuilt = createUNet(inferred);
        expect(rebuilt.config).toEqual(unet.config);
        expect(rebuilt.countParams()).toBe(unet.countParams());
        // The same answer from a Map and from a plain object of the same names and shapes.
        expect(inferUNetConfig(new Map(file.tensors), hints)).toEqual(inferred);
        expect(inferUNetConfig(Object.fromEntries(file.tensors), hints)).toEqual(inferred);
        rebuilt.dispose();
        unet.dispose();
      });
    }
  });

  describe('the state dicts PyTorch saved for the reference U-Nets (test/fixtures/reference)', () => {
    for (const tag of ['improved', 'guided_ssn']) {
      it(`unet_${tag}: the UNetModel kwargs it was made with, and PyTorch's state_dict order`, async () => {
        const { case: c, weights } = await loadUNetCase(tag);
        const kwargs = (c.config as Record<string, Record<string, RefValue>>).constructor_kwargs!;
        // out_channels 6 for 3 input channels: learned sigma by the rule (learn_sigma is a script flag, not a kwarg).
        const expected = complete({ ...(camelKwargs(kwargs) as unknown as UNetConfig), imageSize: 8, learnSigma: true });
        const hints = { imageSize: 8, numHeads: kwargs.num_heads as number, useNewAttentionOrder: false };
        const list = c.state_dict as unknown as Array<{ name: string; shape: number[] }>;
        const inferred = inferUNetConfig(shapesOf(list), hints);
        expect(inferred).toEqual(expected);
        expect(inferUNetConfig(readSafetensors(weights), hints)).toEqual(expected);
        expect([...unetStateDictShapes(resolveUNetConfig(inferred))]).toEqual(list.map((e) => [e.name, e.shape]));
      });
    }
  });

  describe('released checkpoints: state-dict structure built in PyTorch from their flags (test/fixtures/released-unets)', () => {
    const model = (checkpoint: string) => released.models.find((m) => m.checkpoint === checkpoint)!;

    it.skipIf(!hasTorch)('the fixture is what generate.py writes with PyTorch today (skipped without /usr/bin/python3 + torch)', () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'released-unets-'));
      try {
        const out = path.join(dir, 'shapes.json');
        const run = spawnSync(python, ['test/fixtures/released-unets/generate.py', '--out', out], { cwd: root, encoding: 'utf8', timeout: 120_000 });
        expect(run.status, run.stderr).toBe(0);
        expect(readFileSync(out, 'utf8')).toBe(readFileSync(path.join(root, 'test/fixtures/released-unets/shapes.json'), 'utf8'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("improved-diffusion cifar10_uncond_50M_500K.pt: 32 px, 128 channels × (1, 2, 2, 2), 3 res blocks, attention at 16 and 8 px, L_hybrid", () => {
      const m = model('cifar10_uncond_50M_500K.pt');
      const inferred = inferUNetConfig(shapesOf(m.state_dict as Array<[string, number[]]>), { imageSize: 32, numHeads: 4, useNewAttentionOrder: false, dropout: 0.3 });
      expect(inferred).toEqual({
        imageSize: 32,
        inChannels: 3,
        modelChannels: 128,
        outChannels: 6,
        numResBlocks: 3,
        attentionResolutions: [2, 4], // 32 // 16, 32 // 8
        dropout: 0.3,
        channelMult: [1, 2, 2, 2],
        convResample: true,
        numHeads: 4,
        numHeadChannels: -1,
        numHeadsUpsample: -1,
        useScaleShiftNorm: true, // the scripts' default
        resblockUpdown: false,
        useNewAttentionOrder: false,
        learnSigma: true,
      });
      expect(inferred).toMatchObject(camelKwargs(m.unet_kwargs));
    });

    it("guided-diffusion 256x256_diffusion.pt: 256 channels × (1, 1, 2, 2, 4, 4), attention at 32, 16 and 8 px, 1000 classes, resblockUpdown", () => {
      const m = model('256x256_diffusion.pt');
      const shapes = shapesOf(m.state_dict as Array<[string, number[]]>);
      const inferred = inferUNetConfig(shapes, { imageSize: 256, numHeads: 4, numHeadChannels: 64, useNewAttentionOrder: false });
      expect(inferred).toEqual({
        imageSize: 256,
        inChannels: 3,
        modelChannels: 256,
        outChannels: 6,
        numResBlocks: 2,
        attentionResolutions: [8, 16, 32], // 256 // 32, 256 // 16, 256 // 8
        dropout: 0,
        channelMult: [1, 1, 2, 2, 4, 4],
        convResample: true,
        numClasses: 1000,
        numHeads: 4,
        numHeadChannels: 64,
        numHeadsUpsample: -1,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        useNewAttentionOrder: false,
        learnSigma: true,
      });
      expect(inferred).toMatchObject(camelKwargs(m.unet_kwargs));
      // 4 to 16 heads of 64 channels: the qkv order must be stated.
      const e = expectDifflibError(() => inferUNetConfig(shapes, { imageSize: 256, numHeadChannels: 64 }), 'inferUNetConfig', 'hints.useNewAttentionOrder');
      expect(e.message).toContain('16 heads');
    });
  });

  describe('refusals, before any tensor is made', () => {
    let shapes: Shapes;
    const hints = { imageSize: 8, numHeads: 2, useNewAttentionOrder: false };
    const fn = 'inferUNetConfig';
    beforeAll(async () => {
      const { case: c } = await loadUNetCase('improved');
      shapes = shapesOf(c.state_dict as unknown as Array<{ name: string; shape: number[] }>);
    });
    const without = (...keys: string[]) => Object.fromEntries(Object.entries(shapes).filter(([k]) => !keys.some((p) => k.startsWith(p))));

    it('each missing hint, naming what the scripts default to', () => {
      let e = expectDifflibError(() => inferUNetConfig(shapes, { numHeads: 2, useNewAttentionOrder: false }), fn, 'hints.imageSize', 'INVALID_ARGUMENT');
      expect(e.message).toMatch(/multiple of 2 .*32 .*256/);
      e = expectDifflibError(() => inferUNetConfig(shapes, { imageSize: 8 }), fn, 'hints.numHeads', 'INVALID_ARGUMENT');
      expect(e.message).toContain('num_heads=4');
      expect(e.message).toContain('num_head_channels=64');
      expectDifflibError(() => inferUNetConfig(shapes, { imageSize: 8, numHeadChannels: -1 }), fn, 'hints.numHeads');
      expectDifflibError(() => inferUNetConfig(shapes), fn, 'hints.imageSize');
      e = expectDifflibError(() => inferUNetConfig(shapes, { imageSize: 8, numHeads: 2 }), fn, 'hints.useNewAttentionOrder');
      expect(e.message).toContain('2 heads');
      // One head everywhere: the order changes nothing, so it is not asked for.
      expect(inferUNetConfig(shapes, { imageSize: 8, numHeads: 1 }).useNewAttentionOrder).toBe(false);
    });

    it('hints createUNet refuses, unknown hints and hints that contradict the weights', () => {
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, imageSize: 7 }), fn, 'hints.imageSize');
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, numHeads: 3 }), fn, 'hints.numHeads');
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, numHeadChannels: 24 }), fn, 'hints.numHeadChannels');
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, dropout: 1 }), fn, 'hints.dropout');
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, modelChannels: 64 } as UNetConfigHints), fn, 'hints.modelChannels', 'UNKNOWN_OPTION');
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, learnSigma: 'yes' } as unknown as UNetConfigHints), fn, 'hints.learnSigma');
      expectDifflibError(() => inferUNetConfig(shapes, null as unknown as UNetConfigHints), fn, 'hints');
      // The Downsample holds a conv: convResample false contradicts it.
      expectDifflibError(() => inferUNetConfig(shapes, { ...hints, convResample: false }), fn, 'hints.convResample');
      const odd = { ...shapes, 'out.2.weight': { shape: [5, 32, 3, 3] }, 'out.2.bias': { shape: [5] } };
      expect(inferUNetConfig(odd, hints).learnSigma).toBe(false);
      expectDifflibError(() => inferUNetConfig(odd, { ...hints, learnSigma: true }), fn, 'hints.learnSigma');
    });

    it('what is not a state dict, or not an ADM U-Net', () => {
      for (const bad of [null, 42, 'unet.pt']) expectDifflibError(() => inferUNetConfig(bad as never, hints), fn, 'stateDict', 'INVALID_ARGUMENT');
      expectDifflibError(() => inferUNetConfig({ 'a.weight': { shape: 'big' } } as never, hints), fn, 'stateDict', 'INVALID_ARGUMENT');
      let e = expectDifflibError(() => inferUNetConfig({ 'conv.weight': { shape: [8, 3, 3, 3] } }, hints), fn, 'stateDict', 'INVALID_ARGUMENT');
      expect(e.message).toContain('time_embed.0.weight');
      expect(e.message).toContain('conv.weight');
      const wrapped = Object.fromEntries(Object.entries(shapes).map(([k, v]) => [`module.${k}`, v]));
      e = expectDifflibError(() => inferUNetConfig(wrapped, hints), fn, 'stateDict');
      expect(e.message).toContain('prefix "module."');
    });

    it('a truncated state dict names the missing keys', () => {
      let e = expectDifflibError(() => inferUNetConfig(without('out.2.weight'), hints), fn, 'stateDict', 'SHAPE_MISMATCH');
      expect(e.message).toContain('has no out.2.weight');
      e = expectDifflibError(() => inferUNetConfig(without('out.2.bias', 'middle_block.1.qkv'), hints), fn, 'stateDict');
      expect(e.message).toContain('missing keys: middle_block.1.qkv.weight [192,64,1], middle_block.1.qkv.bias [192], out.2.bias [6]');
      e = expectDifflibError(() => inferUNetConfig(without('output_blocks.3.'), hints), fn, 'stateDict');
      expect(e.message).toContain('4 input blocks (input_blocks.0–3) but 3 output blocks');
    });

    it('inconsistent channel counts and unknown keys name the key and the expected shape', () => {
      let e = expectDifflibError(
        () => inferUNetConfig({ ...shapes, 'middle_block.0.in_layers.2.weight': { shape: [48, 64, 3, 3] } }, hints),
        fn,
        'stateDict',
        'SHAPE_MISMATCH',
      );
      expect(e.message).toContain('mis-shaped keys: middle_block.0.in_layers.2.weight (expected [64,64,3,3], got [48,64,3,3])');
      e = expectDifflibError(() => inferUNetConfig({ ...shapes, 'input_blocks.3.0.in_layers.2.weight': { shape: [48, 32, 3, 3] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('48 output channels at level 1, expected a multiple of modelChannels 32');
      e = expectDifflibError(() => inferUNetConfig({ ...shapes, 'input_blocks.1.0.emb_layers.1.weight': { shape: [96, 128] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('expected 32 (the block\'s channels) or 64');
      e = expectDifflibError(() => inferUNetConfig({ ...shapes, 'time_embed.0.weight': { shape: [100, 32] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('[4·C, C]');
      e = expectDifflibError(() => inferUNetConfig({ ...shapes, 'input_blocks.0.0.weight': { shape: [64, 3, 3, 3] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('channel_mult[0]');
      e = expectDifflibError(() => inferUNetConfig({ ...shapes, 'label_emb.weight': { shape: [10, 64] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('label_emb.weight (expected [10,128], got [10,64])');
      e = expectDifflibError(() => inferUNetConfig({ ...shapes, 'input_blocks.1.2.weight': { shape: [32] }, 'ema.decay': { shape: [] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('unexpected keys: input_blocks.1.2.weight, ema.decay');
      e = expectDifflibError(() => inferUNetConfig({ ...without('input_blocks.2.'), 'input_blocks.2.0.norm.weight': { shape: [32] } }, hints), fn, 'stateDict');
      expect(e.message).toContain('neither a ResBlock');
    });
  });
});
