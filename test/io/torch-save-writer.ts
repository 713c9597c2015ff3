// Writes torch.save-shaped files for the cases PyTorch will not write: hand-assembled
// pickles (protocol 2 opcodes) in a stored zip archive, optionally with ZIP64 headers,
// a wrong CRC, or any bytes a test wants to lie with.
import * as tf from '@tensorflow/tfjs-core';
import type { TorchStateDict } from '../../src/index';
import { crc32 } from '../../src/io/torch-checkpoint/crc32';

const encoder = new TextEncoder();

function u16(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff];
}
function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
function u64(n: number): number[] {
  return [...u32(n % 2 ** 32), ...u32(Math.floor(n / 2 ** 32))];
}

/** Pickle opcodes with their arguments, as byte lists to concatenate with {@link pickle}. */
export const op = {
  proto: (v = 2) => [0x80, v],
  stop: [0x2e],
  mark: [0x28],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  emptyTuple: [0x29],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  tuple3: [0x87],
  append: [0x61],
  appends: [0x65],
  setitem: [0x73],
  setitems: [0x75],
  reduce: [0x52],
  build: [0x62],
  binpersid: [0x51],
  none: [0x4e],
  newTrue: [0x88],
  newFalse: [0x89],
  memoize: [0x94],
  str: (s: string) => {
    const b = encoder.encode(s);
    return [0x58, ...u32(b.length), ...b];
  },
  /** BININT1 / BININT2 / BININT by size. */
  int: (n: number) => (n >= 0 && n < 256 ? [0x4b, n] : n >= 0 && n < 65536 ? [0x4d, ...u16(n)] : [0x4a, ...u32(n)]),
  /** LONG1 with `bytes` little-endian two's-complement bytes. */
  long1: (v: bigint, bytes = 8) => {
    const out = [0x8a, bytes];
    for (let i = 0; i < bytes; i++) out.push(Number(BigInt.asUintN(8, v >> BigInt(8 * i))));
    return out;
  },
  binfloat: (x: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return [0x47, ...b];
  },
  global: (module: string, name: string) => [0x63, ...encoder.encode(`${module}\n${name}\n`)],
  binput: (i: number) => [0x71, i],
  longBinput: (i: number) => [0x72, ...u32(i)],
  binget: (i: number) => [0x68, i],
  longBinget: (i: number) => [0x6a, ...u32(i)],
};

/** Concatenates opcode byte lists into a pickle. */
export function pickle(...parts: Array<number[] | readonly number[]>): Uint8Array {
  return Uint8Array.from(parts.flat());
}

/** A tensor as torch.save pickles it: `_rebuild_tensor_v2(('storage', type, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`. */
export interface TensorSpec {
  storageType?: string;
  key: string;
  numel: number;
  offset?: number;
  size: number[];
  stride?: number[];
  /** Extra arguments after backward_hooks (torch >= 2.1's metadata). */
  extra?: number[][];
  /** Wrap in `_rebuild_parameter` (3 arguments) or `_rebuild_parameter_with_state` (4). */
  parameter?: 'plain' | 'with_state';
  /** How integers are pickled (BININT* by default). */
  int?: (n: number) => number[];
  /** The pickled size tuple, replacing `size` there (which still sets the default stride). */
  sizeOps?: number[];
}

export function tensorOps(t: TensorSpec): number[] {
  const stride = t.stride ?? t.size.map((_, i) => t.size.slice(i + 1).reduce((a, b) => a * b, 1));
  const int = t.int ?? op.int;
  const tuple = (xs: number[]) => [...op.mark, ...xs.flatMap(int), ...op.tuple];
  const tensor = [
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.mark,
    ...op.mark,
    ...op.str('storage'),
    ...op.global('torch', t.storageType ?? 'FloatStorage'),
    ...op.str(t.key),
    ...op.str('cpu'),
    ...int(t.numel),
    ...op.tuple,
    ...op.binpersid,
    ...int(t.offset ?? 0),
    ...(t.sizeOps ?? tuple(t.size)),
    ...tuple(stride),
    ...op.newFalse,
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...(t.extra ?? []).flat(),
    ...op.tuple,
    ...op.reduce,
  ];
  if (!t.parameter) return tensor;
  const hooks = [...op.global('collections', 'OrderedDict'), ...op.emptyTuple, ...op.reduce];
  const name = t.parameter === 'plain' ? '_rebuild_parameter' : '_rebuild_parameter_with_state';
  return [
    ...op.global('torch._utils', name),
    ...op.mark,
    ...tensor,
    ...op.newTrue,
    ...hooks,
    ...(t.parameter === 'with_state' ? op.emptyDict : []),
    ...op.tuple,
    ...op.reduce,
  ];
}

/** A protocol-2 pickle of an OrderedDict of named tensors, as `torch.save(model.state_dict())` writes it. */
export function stateDictPickle(entries: Array<[string, number[]]>): Uint8Array {
  return pickle(
    op.proto(2),
    op.global('collections', 'OrderedDict'),
    op.emptyTuple,
    op.reduce,
    op.mark,
    ...entries.flatMap(([name, tensor]) => [op.str(name), tensor]),
    op.setitems,
    op.stop,
  );
}

export interface ZipRecord {
  name: string;
  data: Uint8Array;
  /** Stored CRC-32; the data's own by default. */
  crc?: number;
}

/** A zip archive of stored records; with `zip64`, every size and offset is in ZIP64 fields. */
export function writeZip(records: ZipRecord[], options: { zip64?: boolean } = {}): Uint8Array {
  const out: number[] = [];
  const central: number[] = [];
  for (const r of records) {
    const name = encoder.encode(r.name);
    const crc = r.crc ?? crc32(r.data);
    const offset = out.length;
    out.push(...u32(0x04034b50), ...u16(45), ...u16(0), ...u16(0), ...u32(0), ...u32(crc), ...u32(r.data.length), ...u32(r.data.length));
    out.push(...u16(name.length), ...u16(0), ...name);
    for (const b of r.data) out.push(b);
    const big = options.zip64 ? 0xffffffff : undefined;
    const extra = options.zip64 ? [...u16(1), ...u16(24), ...u64(r.data.length), ...u64(r.data.length), ...u64(offset)] : [];
    central.push(...u32(0x02014b50), ...u16(45), ...u16(45), ...u16(0), ...u16(0), ...u32(0), ...u32(crc));
    central.push(...u32(big ?? r.data.length), ...u32(big ?? r.data.length), ...u16(name.length), ...u16(extra.length), ...u16(0));
    central.push(...u16(0), ...u16(0), ...u32(0), ...u32(big ?? offset), ...name, ...extra);
  }
  const cdOffset = out.length;
  out.push(...central);
  const count = records.length;
  if (options.zip64) {
    const at = out.length;
    out.push(...u32(0x06064b50), ...u64(44), ...u16(45), ...u16(45), ...u32(0), ...u32(0));
    out.push(...u64(count), ...u64(count), ...u64(central.length), ...u64(cdOffset));
    out.push(...u32(0x07064b50), ...u32(0), ...u64(at), ...u32(1));
    out.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(0xffff), ...u16(0xffff), ...u32(0xffffffff), ...u32(0xffffffff), ...u16(0));
  } else {
    out.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(count), ...u16(count), ...u32(central.length), ...u32(cdOffset), ...u16(0));
  }
  return Uint8Array.from(out);
}

/** A torch.save-shaped file: `archive/data.pkl`, the storages as `archive/data/<key>`, `archive/version`. */
export function torchSaveFile(dataPkl: Uint8Array, storages: Record<string, Uint8Array> = {}, options: { zip64?: boolean } = {}): Uint8Array {
  return writeZip(
    [
      { name: 'archive/data.pkl', data: dataPkl },
      ...Object.entries(storages).map(([key, data]) => ({ name: `archive/data/${key}`, data })),
      { name: 'archive/version', data: encoder.encode('3\n') },
    ],
    options,
  );
}

/** The bytes of a typed array. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Whether two state dicts hold the same names, dtypes, shapes and bytes. */
export function sameStateDict(a: TorchStateDict, b: TorchStateDict): boolean {
  if (a.size !== b.size) return false;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || u.dtype !== t.dtype || !tf.util.arraysEqual(u.shape, t.shape)) return false;
    const x = bytesOf(t.data);
    const y = bytesOf(u.data);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  return true;
}
