import { beforeAll, describe, expect, it } from 'vitest';
import { readTorchCheckpoint, type TorchCheckpointTensor } from '../../src/index';
import { floatBitsToHalf, halfToFloatBits } from '../../src/io/half-precision';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { torchFixture, torchFixtureTensors, torchUNetCase, type FixtureTensor } from './torch-fixtures';
import { bytesOf, op, pickle, sameStateDict, stateDictPickle, tensorOps, torchSaveFile, writeZip } from './torch-save-writer';

// Reading makes no tensor; a backend lets the refusal checks count that none were made.
beforeAll(() => useBackend('cpu'));

const fn = 'readTorchCheckpoint';
const load = async (name: string) => torchFixture(name);

// Loaded up front for the refusal tables (it.each bodies run synchronously).
const refused = new Map<string, Uint8Array>();
for (const f of ['evil_system.pt', 'evil_eval.pt', 'evil_getattr.pt', 'legacy.pt', 'torchscript.pt', 'compressed.pt', 'byteorder_big.pt']) {
  refused.set(f, await torchFixture(f));
}
const bytes = (file: string): Uint8Array => refused.get(file)!;

/** The expected values of a fixture tensor, as the typed array readTorchCheckpoint should give. */
function expectedData(t: FixtureTensor): ArrayLike<number | bigint> {
  if (t.dtype === 'int64') return t.data.map((v) => BigInt(v));
  return t.data.map((v) => (typeof v === 'number' ? v : Number(v)));
}

function expectTensor(actual: TorchCheckpointTensor | undefined, expected: FixtureTensor, name: string): void {
  expect(actual, name).toBeDefined();
  expect(actual!.dtype, `${name} dtype`).toBe(expected.dtype);
  expect(actual!.shape, `${name} shape`).toEqual(expected.shape);
  expect(Array.from(actual!.data as ArrayLike<number | bigint>), `${name} values`).toEqual(Array.from(expectedData(expected)));
}


describe('readTorchCheckpoint on files torch.save wrote (PyTorch 1.13)', () => {
  it('reads every storage dtype with its exact values: float32, float16, bfloat16, float64, int64 (as BigInt64Array), int32, uint8, bool', async () => {
    const expected = await torchFixtureTensors('dtypes.json');
    const sd = readTorchCheckpoint(await load('dtypes.pt'));
    expect([...sd.keys()]).toEqual(Object.keys(expected));
    for (const [name, t] of Object.entries(expected)) expectTensor(sd.get(name), t, name);
    expect(sd.get('int64')!.data).toBeInstanceOf(BigInt64Array);
    expect(sd.get('float16')!.data).toBeInstanceOf(Float32Array);
    expect(sd.get('bool')!.data).toBeInstanceOf(Uint8Array);
  });

  it('rebuilds views into contiguous row-major data: transposes, offset slices, steps, two views of one storage, a stride-0 expand, parameters, 0-d and empty tensors', async () => {
    const expected = await torchFixtureTensors('views.json');
    const sd = readTorchCheckpoint(await load('views.pt'));
    expect([...sd.keys()]).toEqual(Object.keys(expected));
    for (const [name, t] of Object.entries(expected)) expectTensor(sd.get(name), t, name);
  });

  it("reads model.state_dict() in its order, shapes readable as stateDict.get(name).shape, aligned float32 data as views of the file's bytes", async () => {
    const bytes = await load('unet_fp32.pt');
    const sd = readTorchCheckpoint(bytes);
    expect(sd.size).toBe(70);
    expect([...sd.keys()].slice(0, 3)).toEqual(['time_embed.0.weight', 'time_embed.0.bias', 'time_embed.2.weight']);
    expect(sd.get('input_blocks.0.0.weight')!.shape).toEqual([32, 3, 3, 3]);
    const c = await torchUNetCase();
    expect([...sd.values()].reduce((n, t) => n + t.data.length, 0)).toBe(c.num_parameters);
    expect(sd.get('out.2.weight')!.data.buffer).toBe(bytes.buffer);
  });

  it('gives float16 weights as the float32 weights rounded to half precision, exactly (unet_fp16.pt against unet_fp32.pt)', async () => {
    const full = readTorchCheckpoint(await load('unet_fp32.pt'));
    const half = readTorchCheckpoint(await load('unet_fp16.pt'));
    expect([...half.keys()]).toEqual([...full.keys()]);
    const bits = new Uint32Array(1);
    const asFloat = new Float32Array(bits.buffer);
    for (const [name, t] of half) {
      expect(t.dtype, name).toBe('float16');
      const source = full.get(name)!.data as Float32Array;
      const rounded = Float32Array.from(source, (v) => {
        asFloat[0] = v;
        bits[0] = halfToFloatBits(floatBitsToHalf(bits[0]!));
        return asFloat[0]!;
      });
      const got = t.data as Float32Array;
      expect(got.length, name).toBe(rounded.length);
      expect(got.findIndex((v, i) => !Object.is(v, rounded[i])), `${name}: first value that is not the half-rounded float32`).toBe(-1);
    }
  });

  it("reads the same tensors from pickle protocol 4 and from Python's zipfile (unaligned records, a byteorder record of \"little\")", async () => {
    const p4 = readTorchCheckpoint(await load('protocol4.pt'));
    expect([...p4.keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
    const rezipped = readTorchCheckpoint(await load('byteorder_little.pt'));
    expect(sameStateDict(rezipped, p4)).toBe(true);
  });

  it('takes an ArrayBuffer as well as a Uint8Array', async () => {
    const bytes = await load('protocol4.pt');
    const copy = bytes.slice().buffer;
    expect(sameStateDict(readTorchCheckpoint(copy), readTorchCheckpoint(bytes))).toBe(true);
  });
});

describe('readTorchCheckpoint on training checkpoints (a dict holding a state dict)', () => {
  it('finds the state dict under "state_dict" beside an Adam optimizer state, an epoch, a string, None and a bool', async () => {
    const sd = readTorchCheckpoint(await load('nested.pt'));
    expect([...sd].map(([k, t]) => [k, t.shape])).toEqual([
      ['weight', [2, 3]],
      ['bias', [2]],
    ]);
  });

  it('refuses a checkpoint with state dicts under two recognised keys, naming them, and reads the one options.key names', async () => {
    const bytes = await load('two_models.pt');
    const e = expectDifflibError(() => readTorchCheckpoint(bytes), fn, 'bytes', 'UNSATISFIABLE');
    expect(e.message).toContain('model and ema');
    expect(e.message).toContain("{ key: 'model' }");
    const model = readTorchCheckpoint(bytes, { key: 'model' });
    const ema = readTorchCheckpoint(bytes, { key: 'ema' });
    // make_fixtures.py: model is small_state_dict(1), the same weights as protocol4.pt; ema is seed 2.
    expect(sameStateDict(model, readTorchCheckpoint(await load('protocol4.pt')))).toBe(true);
    expect([...ema.keys()]).toEqual([...model.keys()]);
    expect(sameStateDict(ema, model)).toBe(false);
  });

  it('refuses a dict under no recognised key, listing its top-level keys, and reads it under options.key', async () => {
    const bytes = await load('unrecognised.pt');
    const e = expectDifflibError(() => readTorchCheckpoint(bytes), fn, 'bytes', 'INVALID_ARGUMENT');
    expect(e.message).toContain('weights (dict of 4 tensors), step (int)');
    expect(readTorchCheckpoint(bytes, { key: 'weights' }).size).toBe(4);
    expect(expectDifflibError(() => readTorchCheckpoint(bytes, { key: 'step' }), fn, 'options.key').message).toContain('not a dict of tensors');
    expect(expectDifflibError(() => readTorchCheckpoint(bytes, { key: 'ema' }), fn, 'options.key').message).toContain('weights (dict of 4 tensors)');
  });
});

describe('readTorchCheckpoint refuses what is not a state dict, saying what the file is', () => {
  it.each([
    ['evil_system.pt', 'posix.system'],
    ['evil_eval.pt', 'builtins.eval'],
    ['evil_getattr.pt', 'builtins.getattr'],
  ])('%s: a pickle naming %s is refused by name, before anything is called', (file, global) => {
    const e = expectDifflibError(() => readTorchCheckpoint(bytes(file)), fn, 'bytes', 'INVALID_ARGUMENT');
    expect(e.message).toContain(`names the Python global ${global}, which readTorchCheckpoint refuses`);
  });

  it.each([
    ['legacy.pt', "legacy format (PyTorch < 1.6, or _use_new_zipfile_serialization=False), which is not read: re-save it with PyTorch >= 1.6: torch.save(torch.load(path, map_location='cpu'), 'new.pt')"],
    ['torchscript.pt', "TorchScript archive (torch.jit.save): it holds a program, not a state dict. In Python, save its weights: torch.save(torch.jit.load(path, map_location='cpu').state_dict(), 'weights.pt')"],
    ['compressed.pt', 'compressed record "compressed/data.pkl" (zip method 8)'],
    ['byteorder_big.pt', 'big-endian machine'],
  ])('%s: %s', (file, message) => {
    expect(expectDifflibError(() => readTorchCheckpoint(bytes(file)), fn, 'bytes').message).toContain(message);
  });

  it('a safetensors file: says to use readSafetensors', () => {
    const header = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const file = new Uint8Array(8 + header.length + 4);
    new DataView(file.buffer).setUint32(0, header.length, true);
    file.set(header, 8);
    expect(expectDifflibError(() => readTorchCheckpoint(file), fn, 'bytes').message).toContain('is a safetensors file, not a torch.save file: read it with readSafetensors');
  });

  it('a bare pickle, a zip that is not torch.save, an empty file and a non-byte argument', () => {
    expect(expectDifflibError(() => readTorchCheckpoint(pickle(op.proto(2), op.none, op.stop)), fn, 'bytes').message).toContain('is a bare pickle');
    const notTorch = writeZip([{ name: 'readme.txt', data: new Uint8Array(3) }]);
    expect(expectDifflibError(() => readTorchCheckpoint(notTorch), fn, 'bytes').message).toContain('not one torch.save wrote');
    const noPickle = writeZip([{ name: 'archive/version', data: new Uint8Array(2) }]);
    expect(expectDifflibError(() => readTorchCheckpoint(noPickle), fn, 'bytes').message).toContain('without archive/data.pkl');
    expect(expectDifflibError(() => readTorchCheckpoint(new Uint8Array(0)), fn, 'bytes').message).toContain('(none)');
    expectDifflibError(() => readTorchCheckpoint('model.pt' as never), fn, 'bytes');
    expectDifflibError(() => readTorchCheckpoint(new Uint8Array(4), null as never), fn, 'options');
    expectDifflibError(() => readTorchCheckpoint(new Uint8Array(4), { key: 1 as never }), fn, 'options.key');
  });

  it('a storage type it does not read (torch.ShortStorage) is UNKNOWN_OPTION', () => {
    const file = torchSaveFile(stateDictPickle([['w', tensorOps({ storageType: 'ShortStorage', key: '0', numel: 2, size: [2] })]]), { 0: new Uint8Array(4) });
    expect(expectDifflibError(() => readTorchCheckpoint(file), fn, 'bytes', 'UNKNOWN_OPTION').message).toContain('torch.ShortStorage');
  });
});

