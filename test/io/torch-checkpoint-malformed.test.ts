// readTorchCheckpoint on hand-made and damaged files: every one either reads correctly or
// is refused with a DifflibError, at once, without a large allocation. The hand-made files
// come from test/io/torch-save-writer.ts (its plain and ZIP64 archives load in torch.load).
import { beforeAll, describe, expect, it } from 'vitest';
import { DifflibError, readTorchCheckpoint, type TorchStateDict } from '../../src/index';
import { crc32 } from '../../src/io/torch-checkpoint/crc32';
import { MAX_MARK_DEPTH } from '../../src/io/torch-checkpoint/unpickler';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { torchFixture } from './torch-fixtures';
import { bytesOf, op, pickle, sameStateDict, stateDictPickle, tensorOps, torchSaveFile, writeZip, type TensorSpec } from './torch-save-writer';

beforeAll(() => useBackend('cpu'));

const fn = 'readTorchCheckpoint';
const six = bytesOf(Float32Array.from([1, 2, 3, 4, 5, 6]));

/** A one-tensor state dict file over the six floats above. */
function oneTensor(spec: Partial<TensorSpec>, options: { zip64?: boolean } = {}): Uint8Array {
  return torchSaveFile(stateDictPickle([['w', tensorOps({ key: '0', numel: 6, size: [6], ...spec })]]), { 0: six }, options);
}

function refusal(file: Uint8Array, code?: string): string {
  return expectDifflibError(() => readTorchCheckpoint(file), fn, 'bytes', code).message;
}

/** A file whose data.pkl is `ops` (no storages). */
function pickleFile(...ops: Array<number[] | readonly number[]>): Uint8Array {
  return torchSaveFile(pickle(...ops));
}


describe('readTorchCheckpoint on hand-made torch.save files', () => {
  it('checks CRC-32 as zip does: the standard check value of "123456789" is 0xCBF43926, for every tail length', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    // Slicing-by-8 against the bitwise definition, on lengths 0..40 (every remainder mod 8).
    const bytes = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let n = 0; n <= bytes.length; n++) {
      let c = 0xffffffff;
      for (const b of bytes.subarray(0, n)) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      expect(crc32(bytes.subarray(0, n)), `length ${n}`).toBe((c ^ 0xffffffff) >>> 0);
    }
  });

  it('reads a ZIP64 archive (sizes and offsets in ZIP64 extra fields, as torch writes past 4 GiB) like the plain one', () => {
    const plain = readTorchCheckpoint(oneTensor({ size: [2, 3] }));
    expect(Array.from(plain.get('w')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sameStateDict(readTorchCheckpoint(oneTensor({ size: [2, 3] }, { zip64: true })), plain)).toBe(true);
  });

  it('reads _rebuild_parameter, _rebuild_parameter_with_state, LONG1 integers and an empty metadata argument (torch >= 2.1)', () => {
    const column = [2, 5];
    expect(Array.from(readTorchCheckpoint(oneTensor({ offset: 1, size: [2], stride: [3], parameter: 'plain' })).get('w')!.data as Float32Array)).toEqual(column);
    expect(Array.from(readTorchCheckpoint(oneTensor({ offset: 1, size: [2], stride: [3], parameter: 'with_state' })).get('w')!.data as Float32Array)).toEqual(column);
    const long1 = oneTensor({ offset: 1, size: [2], stride: [3], int: (n) => op.long1(BigInt(n)) });
    expect(Array.from(readTorchCheckpoint(long1).get('w')!.data as Float32Array)).toEqual(column);
    const empty = [op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce].flat();
    expect(readTorchCheckpoint(oneTensor({ size: [6], extra: [empty] })).get('w')!.shape).toEqual([6]);
    expect(readTorchCheckpoint(oneTensor({ size: [6], extra: [op.none] })).get('w')!.shape).toEqual([6]);
  });

  it('reads a record whose CRC-32 is 0 unchecked (torch.save after set_crc32_options(False)), and refuses one with a wrong CRC', () => {
    const records = (crc: number) =>
      writeZip([
        { name: 'archive/data.pkl', data: stateDictPickle([['w', tensorOps({ key: '0', numel: 6, size: [6] })]]) },
        { name: 'archive/data/0', data: six, crc },
      ]);
    expect(readTorchCheckpoint(records(0)).get('w')!.shape).toEqual([6]);
    expect(refusal(records(0x12345678))).toContain('has record "archive/data/0" whose CRC-32 is');
  });
});

describe('readTorchCheckpoint refuses lying tensors before allocating', () => {
  it('a storage record whose size disagrees with its reference', () => {
    expect(refusal(oneTensor({ numel: 7, size: [7] }))).toContain('storage record "archive/data/0" of 24 bytes, but its reference says 7 float32 elements (28 bytes)');
  });

  it('a view reaching past its storage', () => {
    expect(refusal(oneTensor({ offset: 4, size: [2, 2], stride: [2, 1] }))).toContain('reaching past its 6-element storage');
    expect(refusal(oneTensor({ size: [2], stride: [2 ** 53 - 1], int: (n) => op.long1(BigInt(n)) }))).toContain('reaching past');
  });

  it('a stride-0 view of 2^40 elements (more elements than the file has bytes), and one whose size overflows 2^53', () => {
    expect(refusal(oneTensor({ size: [2 ** 20, 2 ** 20], stride: [0, 0] }))).toContain('more elements in all');
    expect(refusal(oneTensor({ size: [2 ** 30, 2 ** 30, 2 ** 30], stride: [0, 0, 0] }))).toContain('more elements in all');
  });

  it('a size that is not a count (a LONG1 beyond 2^53, a negative number, a float)', () => {
    const withSize = (size: number[]) => oneTensor({ size: [6], sizeOps: [...op.mark, ...size, ...op.tuple] });
    expect(refusal(withSize(op.long1(2n ** 60n)))).toContain('arguments other than (storage, offset, size, stride');
    expect(refusal(withSize(op.int(-1)))).toContain('arguments other than');
    expect(refusal(withSize(op.binfloat(6)))).toContain('arguments other than');
  });

  it('a tensor with metadata it cannot apply', () => {
    const metadata = [op.emptyDict, op.str('conj'), op.newTrue, op.setitem].flat();
    expect(refusal(oneTensor({ size: [6], extra: [metadata] }))).toContain('holds a tensor with metadata');
  });
});

describe('readTorchCheckpoint refuses pickles that do more than build a state dict', () => {
  it('calling a storage class, OrderedDict with arguments, BUILD on a list, an opcode torch.save does not use (NEWOBJ)', () => {
    expect(refusal(pickleFile(op.proto(), op.global('torch', 'FloatStorage'), op.emptyTuple, op.reduce, op.stop))).toContain('calls torch.FloatStorage');
    expect(refusal(pickleFile(op.proto(), op.global('collections', 'OrderedDict'), op.emptyList, op.tuple1, op.reduce, op.stop))).toContain('calls collections.OrderedDict with 1 arguments');
    expect(refusal(pickleFile(op.proto(), op.emptyList, op.emptyDict, op.build, op.stop))).toContain('sets the state of a list of 0');
    expect(refusal(pickleFile(op.proto(), op.global('collections', 'OrderedDict'), op.emptyTuple, [0x81], op.stop))).toContain('opcode 0x81');
  });

  it('a persistent id other than a torch storage reference', () => {
    expect(refusal(pickleFile(op.proto(), op.str('/etc/passwd'), op.binpersid, op.stop))).toContain('persistent id that is not a torch storage reference');
    const missing = pickleFile(op.proto(), op.mark, op.str('storage'), op.global('torch', 'FloatStorage'), op.str('9'), op.str('cpu'), op.int(1), op.tuple, op.binpersid, op.stop);
    expect(refusal(missing)).toContain('refers to storage record "archive/data/9", which the archive lacks');
  });

  it('a list nested 100 000 deep, and a tuple of 2^24 leaves made by memo references: refused as not a dict, without recursion or blow-up', () => {
    const depth = 100_000;
    const deep = new Uint8Array(2 + 2 * depth);
    deep.set(op.proto());
    deep.fill(op.emptyList[0]!, 2, 2 + depth);
    deep.fill(op.append[0]!, 2 + depth, 1 + 2 * depth);
    deep[1 + 2 * depth] = op.stop[0]!;
    expect(refusal(torchSaveFile(deep))).toContain('holds a list of 1, not a state dict');
    // T0 = (), T(k+1) = (Tk, Tk): 2^24 leaves from a hundred bytes.
    const laughs = [op.emptyTuple, op.binput(0)];
    for (let k = 0; k < 24; k++) laughs.push(op.binget(k), op.tuple2, op.binput(k + 1));
    expect(refusal(pickleFile(op.proto(), op.emptyDict, op.str('bomb'), ...laughs, op.setitem, op.stop))).toContain('bomb (tuple of 2)');
  });

  it(`MARKs nested more than ${MAX_MARK_DEPTH} deep`, () => {
    expect(refusal(pickleFile(op.proto(), ...Array(MAX_MARK_DEPTH + 1).fill(op.mark), op.stop))).toContain(`nests MARKs more than ${MAX_MARK_DEPTH} deep`);
  });

  it('declared lengths beyond the bytes present: a 4 GiB string, a 4 GiB frame, a 9-byte LONG1, a GLOBAL without a newline', () => {
    expect(refusal(pickleFile(op.proto(), [0x58, 0xf0, 0xff, 0xff, 0xff], op.stop))).toContain('needs 4294967280 more bytes');
    expect(refusal(pickleFile(op.proto(4), [0x95, 0, 0, 0, 0, 1, 0, 0, 0], op.stop))).toContain('declares a frame of 4294967296 bytes');
    expect(refusal(pickleFile(op.proto(), op.long1(1n, 9).slice(0, 2), Array(9).fill(0), op.stop))).toContain('9-byte integer');
    expect(refusal(pickleFile(op.proto(), [0x63, ...Array(300).fill(0x61)], op.stop))).toContain('GLOBAL name without a newline');
  });

  it('memo reads of slots never written, pops of an empty stack, and a STOP leaving more than one value', () => {
    expect(refusal(pickleFile(op.proto(), op.longBinget(0xffffffff), op.stop))).toContain('memo slot 4294967295, which was never written');
    expect(refusal(pickleFile(op.proto(), op.append, op.stop))).toContain('pops an empty stack');
    expect(refusal(pickleFile(op.proto(), op.none, op.none, op.stop))).toContain('stops with 2 values');
    expect(refusal(pickleFile(op.proto(), op.none))).toContain('needs 1 more bytes');
  });
});

describe('readTorchCheckpoint refuses broken zip archives', () => {
  const good = oneTensor({ size: [6] });
  const zip64 = oneTensor({ size: [6] }, { zip64: true });
  const eocd = good.length - 22;

  it('a ZIP64 locator pointing where no ZIP64 record is, and ZIP64 sentinels without a locator', () => {
    const badLocator = zip64.slice();
    new DataView(badLocator.buffer).setUint32(zip64.length - 22 - 20 + 8, 5, true);
    expect(refusal(badLocator)).toContain('ZIP64 locator pointing at byte 5');
    const sentinel = good.slice();
    new DataView(sentinel.buffer).setUint32(eocd + 16, 0xffffffff, true);
    expect(refusal(sentinel)).toContain('marks its directory as ZIP64 but has no ZIP64 locator');
  });

  it('a central directory declared past the end record, more entries than it can hold, a split archive', () => {
    const view = (f: Uint8Array) => new DataView(f.buffer);
    const past = good.slice();
    view(past).setUint32(eocd + 12, 10_000, true);
    expect(refusal(past)).toContain('past its end record');
    const many = good.slice();
    view(many).setUint16(eocd + 10, 60_000, true);
    expect(refusal(many)).toContain('declares 60000 entries');
    const split = good.slice();
    view(split).setUint16(eocd + 4, 1, true);
    expect(refusal(split)).toContain('multi-disk');
  });
});

/** Reads `file`, returning 'same' when it gives `expected`, 'refused' on a DifflibError; anything else fails. */
function outcome(file: Uint8Array, expected: TorchStateDict, what: string): 'same' | 'refused' {
  let sd: TorchStateDict;
  try {
    sd = readTorchCheckpoint(file);
  } catch (e) {
    if (e instanceof DifflibError) return 'refused';
    throw new Error(`${what}: threw ${String(e)} instead of a DifflibError`);
  }
  if (!sameStateDict(sd, expected)) throw new Error(`${what}: read a different state dict`);
  return 'same';
}

describe('readTorchCheckpoint on damaged files: every truncation and byte flip reads correctly or is refused, quickly', () => {
  it.each(['views.pt', 'nested.pt'])('%s: truncated at every length, and every byte inverted and bit-flipped', async (name) => {
    const file = await torchFixture(name);
    const expected = readTorchCheckpoint(file);
    let slowest = 0;
    const counts = { same: 0, refused: 0 };
    const run = (damaged: Uint8Array, what: string) => {
      const t0 = performance.now();
      counts[outcome(damaged, expected, what)]++;
      slowest = Math.max(slowest, performance.now() - t0);
    };
    for (let n = 0; n < file.length; n++) run(file.subarray(0, n), `truncated to ${n} bytes`);
    expect(counts.same, 'a truncated file read as whole').toBe(0);
    for (let i = 0; i < file.length; i++) {
      for (const mask of [0xff, 1 << (i % 8)]) {
        const damaged = file.slice();
        damaged[i]! ^= mask;
        run(damaged, `byte ${i} xor ${mask}`);
      }
    }
    // Flips in fields nothing reads (timestamps, versions, padding) give the same tensors.
    expect(counts.refused).toBeGreaterThan(counts.same);
    expect(slowest, 'slowest case (ms)').toBeLessThan(250);
  });

  it('unet_fp16.pt (350 kB): 200 truncations and 400 flips spread over the file', async () => {
    const file = await torchFixture('unet_fp16.pt');
    const expected = readTorchCheckpoint(file);
    let state = 20240607;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let slowest = 0;
    const timed = (damaged: Uint8Array, what: string) => {
      const t0 = performance.now();
      outcome(damaged, expected, what);
      slowest = Math.max(slowest, performance.now() - t0);
    };
    for (let k = 0; k < 200; k++) {
      const n = Math.floor(next() * file.length);
      expect(outcome(file.subarray(0, n), expected, `truncated to ${n}`)).toBe('refused');
    }
    // Half of the flips in the last 16 kB: the pickle's tail and the central directory.
    for (let k = 0; k < 400; k++) {
      const i = k % 2 ? Math.floor(next() * file.length) : file.length - 1 - Math.floor(next() * 16_384);
      const damaged = file.slice();
      damaged[i]! ^= 1 << (k % 8);
      timed(damaged, `byte ${i} flipped`);
    }
    expect(slowest, 'slowest case (ms)').toBeLessThan(500);
  });
});
