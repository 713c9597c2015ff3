// loadTorchStateDict on torch.save files (.pt), told from safetensors by their first bytes.
import { beforeAll, describe, expect, it } from 'vitest';
import { createUNet, exportTorchStateDict, loadTorchStateDict, readTorchCheckpoint, type TorchStateDict, type UNetConfig } from '../../src/index';
import { NODE_BACKENDS, useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { torchFixture, torchUNetCase } from './torch-fixtures';
import { defineTorchUNetSuite } from './torch-unet-suite';

const unetCase = await torchUNetCase();
const weights = { 'unet_fp32.pt': await torchFixture('unet_fp32.pt'), 'unet_fp16.pt': await torchFixture('unet_fp16.pt') };
const other = {
  small: await torchFixture('protocol4.pt'),
  dtypes: await torchFixture('dtypes.pt'),
  legacy: await torchFixture('legacy.pt'),
  evil: await torchFixture('evil_system.pt'),
};
// unet_small.json's kwargs, camelCased, with the input's size.
const config: UNetConfig = {
  imageSize: 8,
  inChannels: 3,
  modelChannels: 32,
  outChannels: 3,
  numResBlocks: 1,
  attentionResolutions: [],
  dropout: 0,
  channelMult: [1],
  numHeads: 1,
  useScaleShiftNorm: false,
};
const fn = 'loadTorchStateDict';
const arg = 'weights';

describe.each(NODE_BACKENDS)('loadTorchStateDict on .pt files, %s backend', (backend) => {
  beforeAll(() => useBackend(backend));
  defineTorchUNetSuite(unetCase, weights);
});

describe('loadTorchStateDict takes a state dict read by readTorchCheckpoint as well as bytes', () => {
  it('loads the same weights from the .pt bytes, from readTorchCheckpoint(bytes), and from that state dict widened to float64', async () => {
    await useBackend('cpu');
    const bytes = weights['unet_fp32.pt'];
    const read = readTorchCheckpoint(bytes);
    const wide: TorchStateDict = new Map([...read].map(([k, t]) => [k, { dtype: 'float64', shape: t.shape, data: Float64Array.from(t.data as Float32Array) }]));
    const exports = [bytes, read, wide].map((source) => {
      const unet = createUNet(config);
      loadTorchStateDict(unet, source);
      const out = exportTorchStateDict(unet);
      unet.dispose();
      return Buffer.from(out);
    });
    expect(exports[1]!.equals(exports[0]!)).toBe(true);
    expect(exports[2]!.equals(exports[0]!)).toBe(true);
  });
});

describe('loadTorchStateDict refuses .pt files that do not fit, changing no weight', () => {
  it("another model's weights (protocol4.pt): the missing and unexpected keys; integers (dtypes.pt): weights must be floating point", async () => {
    await useBackend('cpu');
    const unet = createUNet(config);
    const before = Buffer.from(exportTorchStateDict(unet));
    const e = expectDifflibError(() => loadTorchStateDict(unet, other.small), fn, arg, 'SHAPE_MISMATCH');
    expect(e.message).toContain('missing keys: time_embed.0.weight');
    expect(e.message).toContain('unexpected keys: 0.weight, 0.bias, 1.weight, 1.bias');
    expect(expectDifflibError(() => loadTorchStateDict(unet, other.dtypes), fn, arg).message).toContain('holds int64 as int64; U-Net weights must be floating point');
    expect(Buffer.from(exportTorchStateDict(unet)).equals(before)).toBe(true);
    unet.dispose();
  });

  it("a legacy-format or hostile .pt: readTorchCheckpoint's refusal, attributed to loadTorchStateDict", async () => {
    await useBackend('cpu');
    const unet = createUNet(config);
    expect(expectDifflibError(() => loadTorchStateDict(unet, other.legacy), fn, arg).message).toContain('legacy format');
    expect(expectDifflibError(() => loadTorchStateDict(unet, other.evil), fn, arg).message).toContain('posix.system');
    unet.dispose();
  });
});
