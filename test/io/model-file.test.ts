// Configs that round-trip (NoiseSchedule, GaussianDiffusion, UNet) and the one model file
// that rebuilds U-Net, process and scheduler: exact round trips, refusals naming the field,
// no tensor left by a refused file, and the demo's difflib 0.1 file still loading.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  DifflibError,
  GaussianDiffusion,
  NoiseSchedule,
  UNet,
  createUNet,
  exportTorchStateDict,
  loadModelFile,
  readSafetensors,
  saveModelFile,
  type UNetConfig,
} from '../../src/index';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const TINY: UNetConfig = { imageSize: 8, inChannels: 1, modelChannels: 32, outChannels: 2, numResBlocks: 1, attentionResolutions: [2], channelMult: [1, 2], learnSigma: true };

function seededUNet(config: UNetConfig = TINY, seed = 3): UNet {
  const unet = createUNet(config);
  unet.model.weights.forEach((w, i) => {
    const value = tf.randomNormal(w.shape as number[], 0, 0.1, 'float32', seed + i);
    w.write(value);
    value.dispose();
  });
  return unet;
}

const diffusion = new GaussianDiffusion({
  schedule: NoiseSchedule.named('cosine', 200).respace('ddim20'),
  modelMeanType: 'v',
  modelVarType: 'learned_range',
  lossType: 'rescaled_mse',
  rescaleTimesteps: true,
});

beforeAll(() => useBackend('cpu'));

describe('configs round-trip through JSON, exactly', () => {
  it('NoiseSchedule: betas bit for bit, the map and T', () => {
    const s = diffusion.schedule;
    const again = NoiseSchedule.fromConfig(json(s.toConfig()));
    expect(Array.from(again.betas)).toEqual(Array.from(s.betas));
    expect(again.timestepMap).toEqual(s.timestepMap);
    expect(again.originalNumTimesteps).toBe(200);
  });

  it('GaussianDiffusion: every table and the parameterisation', () => {
    const again = GaussianDiffusion.fromConfig(json(diffusion.toConfig()));
    for (const key of ['alphasCumprod', 'posteriorVariance', 'posteriorMeanCoef1', 'sqrtRecipm1AlphasCumprod'] as const) {
      expect(Array.from(again[key]), key).toEqual(Array.from(diffusion[key]));
    }
    expect([again.modelMeanType, again.modelVarType, again.lossType, again.rescaleTimesteps, again.timestepMap]).toEqual([
      'v', 'learned_range', 'rescaled_mse', true, diffusion.timestepMap,
    ]);
  });

  it('UNet: the same architecture (class-conditional included)', () => {
    const unet = createUNet({ ...TINY, numClasses: 10 });
    const twin = UNet.fromConfig(json(unet.toConfig()));
    expect(twin.config).toEqual(unet.config);
    expect(twin.countParams()).toBe(unet.countParams());
    expect(unet.toConfig().numClasses).toBe(10);
    expect('numClasses' in createUNet(TINY).toConfig()).toBe(false);
    unet.dispose();
    twin.dispose();
  });

  it('refuses a config, naming the field at fault', () => {
    const good = json(diffusion.toConfig());
    expectDifflibError(() => NoiseSchedule.fromConfig({ ...good.schedule, betas: [0.1, 2] }), 'NoiseSchedule.fromConfig', 'config.betas');
    expectDifflibError(() => NoiseSchedule.fromConfig({ ...good.schedule, timestepMap: [5, 1] }), 'NoiseSchedule.fromConfig', 'config.timestepMap');
    expectDifflibError(() => NoiseSchedule.fromConfig({ ...good.schedule, originalNumTimesteps: 3 }), 'NoiseSchedule.fromConfig', 'config.originalNumTimesteps');
    expectDifflibError(() => GaussianDiffusion.fromConfig({ ...good, modelMeanType: 'noise' as never }), 'GaussianDiffusion.fromConfig', 'config.modelMeanType');
    expectDifflibError(() => GaussianDiffusion.fromConfig({ ...good, schedule: { ...good.schedule, betas: [] } }), 'GaussianDiffusion.fromConfig', 'config.schedule.betas');
    expectDifflibError(() => GaussianDiffusion.fromConfig({ ...good, rescaleTimesteps: 'yes' as never }), 'GaussianDiffusion.fromConfig', 'config.rescaleTimesteps');
  });
});

describe('saveModelFile / loadModelFile', () => {
  it('rebuilds the U-Net (same outputs, bit for bit), the process and the scheduler from one file', () => {
    const unet = seededUNet();
    const scheduler = new DDIMScheduler({ betaSchedule: 'squaredcos_cap_v2', predictionType: 'v_prediction', timestepSpacing: 'trailing' });
    const bytes = saveModelFile({ unet, diffusion, scheduler, metadata: { note: 'digits' } });
    // It is a PyTorch state dict for anyone else.
    const file = readSafetensors(bytes);
    expect(file.metadata.format).toBe('pt');
    expect(file.tensors.get('input_blocks.0.0.weight')?.shape).toEqual([32, 1, 3, 3]);

    const loaded = loadModelFile(Buffer.from(bytes)); // a Node Buffer, as readFileSync gives
    expect(loaded.metadata).toEqual({ format: 'pt', note: 'digits' });
    expect(loaded.unet.config).toEqual(unet.config);
    const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 9);
    const t = tf.tensor1d([3, 150], 'int32');
    const [a, b] = [unet.forward(x, t), loaded.unet.forward(x, t)];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(loaded.diffusion!.alphasCumprod)).toEqual(Array.from(diffusion.alphasCumprod));
    expect(loaded.scheduler!.toConfig()).toEqual(scheduler.toConfig());
    tf.dispose([x, t, a, b]);
    unet.dispose();
    loaded.unet.dispose();
  });

  it('keeps a scheduler config with non-finite values (DPM-Solver: lambda_min_clipped −∞)', () => {
    const unet = seededUNet();
    const loaded = loadModelFile(saveModelFile({ unet, scheduler: new DPMSolverMultistepScheduler() }));
    expect(loaded.scheduler!.config['lambda_min_clipped']).toBe(-Infinity);
    unet.dispose();
    loaded.unet.dispose();
  });

  it('holds just the U-Net when that is all it was given', () => {
    const unet = seededUNet();
    const loaded = loadModelFile(saveModelFile({ unet }).slice().buffer);
    expect([loaded.diffusion, loaded.scheduler]).toEqual([null, null]);
    unet.dispose();
    loaded.unet.dispose();
  });

  it("loads the browser demo's digits model, written by difflib 0.1's examples/digits.mjs", () => {
    const { unet, diffusion: d } = loadModelFile(readFileSync(path.join(root, 'examples/browser/assets/digits.safetensors')));
    expect(unet.config.imageSize).toBeGreaterThan(0);
    expect(d!.modelVarType).toBe('learned_range');
    expect(d!.numTimesteps).toBeGreaterThan(1);
    unet.dispose();
  });

  it('refuses, leaving no tensor behind: not safetensors, a bare state dict, a bad config, weights that do not fit', () => {
    const unet = seededUNet();
    const good = saveModelFile({ unet, diffusion });
    const before = tf.memory().numTensors;
    expectDifflibError(() => loadModelFile(new Uint8Array(12)), 'loadModelFile', 'bytes');
    const bare = expectDifflibError(() => loadModelFile(exportTorchStateDict(unet)), 'loadModelFile', 'bytes');
    expect(bare.message).toContain('not a difflib model file');
    // Another architecture's config with these weights.
    const other = saveModelFile({ unet, metadata: {} });
    const patched = patchMetadata(other, 'difflib.unet', JSON.stringify({ ...TINY, modelChannels: 64 }));
    const err = expectDifflibError(() => loadModelFile(patched), 'loadModelFile', 'bytes');
    expect(err.message).toMatch(/mis-shaped keys/);
    const badProcess = patchMetadata(good, 'difflib.diffusion', JSON.stringify({ ...diffusion.toConfig(), lossType: 'l1' }));
    expect(() => loadModelFile(badProcess)).toThrow(/has metadata "difflib.diffusion" that GaussianDiffusion.fromConfig refuses: config.lossType/);
    const badJson = patchMetadata(good, 'difflib.unet', '{');
    expect(() => loadModelFile(badJson)).toThrow(DifflibError);
    expect(tf.memory().numTensors).toBe(before);
    unet.dispose();
  });

  it('refuses bad parts before writing anything', () => {
    expectDifflibError(() => saveModelFile({ unet: {} as never }), 'saveModelFile', 'parts.unet');
    const unet = seededUNet();
    expectDifflibError(() => saveModelFile({ unet, diffusion: {} as never }), 'saveModelFile', 'parts.diffusion');
    expectDifflibError(() => saveModelFile({ unet, scheduler: 5 as never }), 'saveModelFile', 'parts.scheduler');
    unet.dispose();
  });
});

/** The same file with one metadata entry replaced (header rewritten, data kept). */
function patchMetadata(bytes: Uint8Array, key: string, value: string): Uint8Array {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown> & { __metadata__: Record<string, string> };
  header.__metadata__[key] = value;
  const text = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + padded + bytes.length - 8 - headerLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.fill(0x20, 8, 8 + padded);
  out.set(text, 8);
  out.set(bytes.subarray(8 + headerLength), 8 + padded);
  return out;
}
