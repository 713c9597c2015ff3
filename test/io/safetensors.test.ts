import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DifflibErrorCode } from '../../src/errors';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from '../../src/io/index';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

// No tensors here; a backend lets the error checks also count that none were made.
beforeAll(() => useBackend('cpu'));

const referenceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/reference');

interface UNetCase {
  state_dict: Array<{ name: string; shape: number[]; dtype: string }>;
  num_parameters: number;
  weights_file: string;
}

function loadUNetCase(tag: string): { ref: UNetCase; bytes: Uint8Array } {
  const json = JSON.parse(readFileSync(path.join(referenceDir, `unet_${tag}.json`), 'utf8')) as { cases: UNetCase[] };
  const ref = json.cases[0]!;
  return { ref, bytes: new Uint8Array(readFileSync(path.join(referenceDir, ref.weights_file))) };
}

/** A file with `header` written as given (no padding) after its length, then `data`. */
function rawFile(header: unknown, data: ArrayLike<number> = []): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Compares bytes directly: a deep `toEqual` over megabytes of typed arrays takes seconds. */
function expectSameBytes(actual: ArrayBufferView, expected: ArrayBufferView, label?: string): void {
  const a = bytesOf(actual);
  const b = bytesOf(expected);
  const firstDifference = a.length === b.length ? a.findIndex((v, i) => v !== b[i]) : Math.min(a.length, b.length);
  expect(firstDifference, `${label ?? 'bytes'}: first differing byte (lengths ${a.length}, ${b.length})`).toBe(-1);
}

function headerText(file: Uint8Array): string {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(file.subarray(8, 8 + n));
}


describe.each(['improved', 'guided_ssn'])('readSafetensors on the reference U-Net file unet_%s', (tag) => {
  const { ref, bytes } = loadUNetCase(tag);
  const file = readSafetensors(bytes);

  it('holds every state_dict entry with its shape and dtype, in state_dict order', () => {
    const read = [...file.tensors].map(([name, t]) => ({ name, shape: t.shape, dtype: t.dtype }));
    expect(read).toEqual(ref.state_dict);
    for (const [name, t] of file.tensors) expect(t.data, name).toBeInstanceOf(Float32Array);
  });

  it('holds num_parameters elements in all', () => {
    const total = [...file.tensors.values()].reduce((n, t) => n + t.data.length, 0);
    expect(total).toBe(ref.num_parameters);
  });

  it("keeps the writer's metadata", () => {
    expect(file.metadata).toMatchObject({ format: 'pt', case: tag });
  });

  it('decodes every weight as the raw little-endian bytes say, all finite and not all zero', () => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dataStart = 8 + Number(view.getBigUint64(0, true));
    const header = JSON.parse(headerText(bytes)) as Record<string, { data_offsets: [number, number] }>;
    for (const [name, { data }] of file.tensors) {
      expect(data.every(Number.isFinite), `${name} finite`).toBe(true);
      expect(data.some((v) => v !== 0), `${name} has a non-zero entry`).toBe(true);
      const begin = dataStart + header[name]!.data_offsets[0];
      for (const i of [0, data.length >> 1, data.length - 1]) {
        expect(data[i], `${name}[${i}]`).toBe(view.getFloat32(begin + 4 * i, true));
      }
    }
  });

  it('returns aligned F32 data as views of the file bytes, without copying', () => {
    for (const { data } of file.tensors.values()) expect(data.buffer).toBe(bytes.buffer);
  });

  it('rewrites to a file that reads back the same tensors and metadata, deterministically', () => {
    const rewritten = writeSafetensors(file.tensors, file.metadata);
    const again = readSafetensors(rewritten);
    expect(again.metadata).toEqual(file.metadata);
    expect(new Set(again.tensors.keys())).toEqual(new Set(file.tensors.keys()));
    // The reference writer lays same-dtype tensors out by name, not in state_dict order.
    expect([...again.tensors.keys()]).toEqual([...file.tensors.keys()].sort());
    for (const [name, t] of file.tensors) {
      const u = again.tensors.get(name)!;
      expect([u.dtype, u.shape], name).toEqual([t.dtype, t.shape]);
      expectSameBytes(u.data, t.data, name);
    }
    expectSameBytes(writeSafetensors(again.tensors, again.metadata), rewritten);
  });

  it('refuses the file with its last 4 bytes cut off', () => {
    const err = expectDifflibError(() => readSafetensors(bytes.subarray(0, bytes.length - 4)), 'readSafetensors', 'bytes', 'INVALID_ARGUMENT');
    expect(err.detail).toContain('out.2.bias');
  });
});

const ROUND_TRIP: Record<string, SafetensorsTensor> = {
  f64: { dtype: 'F64', shape: [2, 4], data: new Float64Array([0, -0, 1.5, -1e300, 5e-324, Infinity, -Infinity, NaN]) },
  f32: { dtype: 'F32', shape: [8], data: new Float32Array([0, -0, 1, -2.5, 3.4e38, 1e-45, Infinity, NaN]) },
  // Values a half holds exactly: zero, one, the largest finite, the smallest subnormal and normal.
  f16: { dtype: 'F16', shape: [3, 3], data: new Float32Array([0, -0, 1, -2, 65504, 2 ** -24, 2 ** -14, -Infinity, NaN]) },
  bf16: { dtype: 'BF16', shape: [6], data: new Float32Array([-0, 1, 3.3895313892515355e38, 2 ** -133, Infinity, NaN]) },
  i64: { dtype: 'I64', shape: [5], data: new Int32Array([0, -1, 42, 2147483647, -2147483648]) },
  i32: { dtype: 'I32', shape: [2, 2], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
  i16: { dtype: 'I16', shape: [3], data: new Int16Array([-32768, 0, 32767]) },
  i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
  u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
  mask: { dtype: 'BOOL', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
  scalar: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
  empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
};

describe('writeSafetensors', () => {
  it('writes what the reference (Rust) writer writes, byte for byte', () => {
    const floats = bytesOf(new Float32Array([0, 1, 2, 3, 4, 5]));
    const expected = (header: string, data: Uint8Array) => {
      const json = new TextEncoder().encode(header);
      const out = new Uint8Array(8 + json.length + data.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      out.set(data, 8 + json.length);
      return out;
    };
    // The reference crate's own serialisation tests: a 64-byte header needing no padding,
    // one padded to 72, and an empty file with metadata.
    expect(writeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } })).toEqual(
      expected('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', floats),
    );
    expect(writeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } })).toEqual(
      expected('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ', floats),
    );
    expect(writeSafetensors({})).toEqual(expected('{}      ', new Uint8Array(0)));
    expect(writeSafetensors({}, { framework: 'pt' })).toEqual(expected('{"__metadata__":{"framework":"pt"}}     ', new Uint8Array(0)));
  });

  it('lays data out by descending alignment, then by name, after a space-padded header that starts with __metadata__', () => {
    const file = writeSafetensors(ROUND_TRIP, { z: '1', a: '2' });
    const text = headerText(file);
    expect(text.length % 8).toBe(0);
    expect(text).toMatch(/^\{"__metadata__":\{"a":"2","z":"1"\},"i64":/);
    expect(text.trimEnd()).toMatch(/\}$/);
    const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const { __metadata__: _, ...entries } = header;
    expect(Object.keys(entries)).toEqual(['i64', 'f64', 'empty', 'f32', 'scalar', 'i32', 'bf16', 'f16', 'i16', 'i8', 'u8', 'mask']);
    let covered = 0;
    for (const { data_offsets: [begin, end] } of Object.values(entries)) {
      expect(begin).toBe(covered);
      covered = end;
    }
    expect(8 + text.length + covered).toBe(file.length);
  });

  it('round-trips every dtype bit for bit, and rewriting what it read gives the same file', () => {
    const file = writeSafetensors(ROUND_TRIP, { note: 'round trip' });
    const read = readSafetensors(file);
    expect([...read.tensors.keys()].sort()).toEqual(Object.keys(ROUND_TRIP).sort());
    for (const [name, t] of Object.entries(ROUND_TRIP)) {
      const u = read.tensors.get(name)!;
      expect([u.dtype, u.shape], name).toEqual([t.dtype, t.shape]);
      expect(u.data.constructor, name).toBe(t.data.constructor);
      expectSameBytes(u.data, t.data, name);
    }
    expectSameBytes(writeSafetensors(read.tensors, read.metadata), file);
  });

  it('keeps metadata, any text included, and leaves __metadata__ out when there is none', () => {
    const metadata = { format: 'pt', 'clé "ü"': 'line\nbreak ✓ 😀', '0': 'integer-like key' };
    const tensors = { w: ROUND_TRIP.f32! };
    expect(readSafetensors(writeSafetensors(tensors, metadata)).metadata).toEqual(metadata);
    expect(headerText(writeSafetensors(tensors))).not.toContain('__metadata__');
    expect(readSafetensors(writeSafetensors(tensors)).metadata).toEqual({});
  });

  it('rounds F16 and BF16 to nearest, ties to even, overflowing to infinity', () => {
    const f16 = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, 2 ** -25, 1.5 * 2 ** -25, 3 * 2 ** -25, -1e-10];
    const bf16 = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.39e38, 3.4e38, -(1 + 2 ** -9)];
    const read = readSafetensors(
      writeSafetensors({
        h: { dtype: 'F16', shape: [f16.length], data: new Float32Array(f16) },
        b: { dtype: 'BF16', shape: [bf16.length], data: new Float32Array(bf16) },
      }),
    );
    expect(Array.from(read.tensors.get('h')!.data)).toEqual([1, 1 + 2 ** -9, 65504, Infinity, 0, 2 ** -24, 2 ** -23, -0]);
    expect(Array.from(read.tensors.get('b')!.data)).toEqual([1, 1 + 2 ** -6, 3.3895313892515355e38, Infinity, -1]);
  });

  it('sign-extends I64 from int32', () => {
    const file = writeSafetensors({ t: { dtype: 'I64', shape: [2], data: new Int32Array([-1, 5]) } });
    expect(Array.from(file.subarray(file.length - 16))).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 5, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('gives the same bytes for a Map and for a plain object', () => {
    expect(writeSafetensors(new Map(Object.entries(ROUND_TRIP)))).toEqual(writeSafetensors(ROUND_TRIP));
  });

  it('orders names by code point, as the reference sorts UTF-8 bytes, and lists the header in data order', () => {
    // UTF-16 order would put the emoji (a surrogate pair, 0xD83D...) before U+FF01, and an
    // object's key order would put the integer-like "2" before "10".
    const names = ['\u{1F600}', '\uFF01', 'b', 'B', '2', '10'];
    const file = writeSafetensors(new Map(names.map((n) => [n, { dtype: 'U8', shape: [1], data: new Uint8Array([1]) }])));
    const expected = ['10', '2', 'B', 'b', '\uFF01', '\u{1F600}'];
    const text = headerText(file);
    const positions = expected.map((n) => text.indexOf(JSON.stringify(n)));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(text.startsWith('{"10":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}')).toBe(true);
    expect([...readSafetensors(file).tensors.keys()]).toEqual(expected);
  });
});

describe('readSafetensors with unaligned data', () => {
  it('copies data whose offset is not a multiple of its element size', () => {
    // An odd-length header puts the buffer at an odd byte, so F32 and I16 data are misaligned.
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I16', shape: [1], data_offsets: [8, 10] } };
    const text = JSON.stringify(header);
    const padded = text.length % 2 === 1 ? text : `${text} `;
    const file = rawFile(padded, [...bytesOf(new Float32Array([1.5, -2])), ...bytesOf(new Int16Array([-7]))]);
    const read = readSafetensors(file);
    const a = read.tensors.get('a')!;
    expect(Array.from(a.data)).toEqual([1.5, -2]);
    expect(a.data.buffer).not.toBe(file.buffer);
    expect(Array.from(read.tensors.get('b')!.data)).toEqual([-7]);
  });

  it('reads a file that starts at an odd offset inside a larger buffer', () => {
    const file = writeSafetensors(ROUND_TRIP);
    const host = new Uint8Array(file.length + 3);
    host.set(file, 3);
    const read = readSafetensors(host.subarray(3));
    for (const [name, t] of Object.entries(ROUND_TRIP)) expectSameBytes(read.tensors.get(name)!.data, t.data, name);
  });
});

/**
 * The same file in the containers a user hands over: an ArrayBuffer (fetch), Uint8Arrays at
 * offsets 1–3 of a larger buffer, a pooled Node Buffer (`Buffer.from` of a small file shares
 * an 8 KiB pool with other allocations), `readFileSync`'s Buffer, and a Buffer's `subarray`.
 * A reader that takes `.buffer` of a Buffer's `slice` reads the pool, not the file.
 */
function containersOf(file: Uint8Array, dir: string): Array<[string, Uint8Array | ArrayBuffer]> {
  const filled = (n: number) => Buffer.alloc(n, 0xa5); // a pool that holds other bytes
  filled(100);
  const atOffset = (k: number) => {
    const host = new Uint8Array(file.length + k);
    host.set(file, k);
    return host.subarray(k);
  };
  const fileName = path.join(dir, `f${file.length}.safetensors`);
  writeFileSync(fileName, file);
  return [
    ['ArrayBuffer', file.slice().buffer],
    ['Uint8Array at offset 1', atOffset(1)],
    ['Uint8Array at offset 2', atOffset(2)],
    ['Uint8Array at offset 3', atOffset(3)],
    ['pooled Buffer', Buffer.from(file)],
    ['readFileSync Buffer', readFileSync(fileName)],
    ['Buffer subarray', Buffer.concat([filled(5), Buffer.from(file)]).subarray(5)],
  ];
}

/** `file` with its header grown by `extra` spaces, so the data starts `extra` bytes later. */
function withHeaderPadding(file: Uint8Array, extra: number): Uint8Array {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return rawFile(headerText(file) + ' '.repeat(extra), file.subarray(8 + n));
}

describe('readSafetensors reads every dtype bit for bit from any byte container', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'difflib-st-'));
  const aligned = writeSafetensors(ROUND_TRIP);
  for (const [header, file] of [
    ['aligned header', aligned],
    ['header of 8k+1 bytes', withHeaderPadding(aligned, 1)],
    ['header of 8k+2 bytes', withHeaderPadding(aligned, 2)],
    ['header of 8k+4 bytes', withHeaderPadding(aligned, 4)],
  ] as const) {
    for (const [container, bytes] of containersOf(file, dir)) {
      it(`${header}, ${container}`, () => {
        expect(bytes instanceof ArrayBuffer ? bytes.byteLength : bytes.byteLength).toBe(file.length);
        const read = readSafetensors(bytes);
        expect([...read.tensors.keys()].sort()).toEqual(Object.keys(ROUND_TRIP).sort());
        for (const [name, t] of Object.entries(ROUND_TRIP)) {
          const u = read.tensors.get(name)!;
          expect([u.dtype, u.shape, u.data.constructor], name).toEqual([t.dtype, t.shape, t.data.constructor]);
          expectSameBytes(u.data, t.data, `${name} (${t.dtype})`);
        }
      });
    }
  }
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});

describe('readSafetensors refuses malformed files', () => {
  const f32 = (offsets: [number, number], shape = [2]) => ({ dtype: 'F32', shape, data_offsets: offsets });
  const read = (bytes: unknown) => () => readSafetensors(bytes as Uint8Array);
  const cases: Array<[string, unknown, DifflibErrorCode, string]> = [
    ['neither a Uint8Array nor an ArrayBuffer', [0, 0, 0, 0, 0, 0, 0, 0], 'INVALID_ARGUMENT', 'must be a Uint8Array (or Node Buffer) or an ArrayBuffer'],
    ['shorter than the length field', new Uint8Array(5), 'INVALID_ARGUMENT', '5 bytes long'],
    ['a header length beyond the file', rawFile('{}').subarray(0, 9), 'INVALID_ARGUMENT', 'declares a header of 2 bytes'],
    ['a header length over 100 MB', Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 123, 125), 'INVALID_ARGUMENT', 'more than'],
    ['a header that is not UTF-8', rawFile('{"ab"}').map((b, i) => (i === 10 ? 0xff : b)), 'INVALID_ARGUMENT', 'UTF-8'],
    ['a header that is not JSON', rawFile('{"a": {"dtype": "F32",'), 'INVALID_ARGUMENT', 'not valid JSON'],
    ['a header that is a JSON array', rawFile('[]'), 'INVALID_ARGUMENT', 'not a JSON object'],
    ['an unknown dtype', rawFile({ a: { dtype: 'Q4_K', shape: [2], data_offsets: [0, 1] } }, [0]), 'UNKNOWN_OPTION', 'supported dtypes are'],
    ['a negative shape', rawFile({ a: f32([0, 8], [-2]) }, new Uint8Array(8)), 'INVALID_ARGUMENT', 'shape [-2]'],
    ['reversed data_offsets', rawFile({ a: f32([8, 0]) }, new Uint8Array(8)), 'INVALID_ARGUMENT', 'data_offsets [8, 0]'],
    ['data_offsets past the buffer', rawFile({ a: f32([0, 8]) }, new Uint8Array(4)), 'INVALID_ARGUMENT', 'run past the end'],
    ['data_offsets that disagree with dtype and shape', rawFile({ a: f32([0, 4]) }, new Uint8Array(4)), 'SHAPE_MISMATCH', 'needs 8'],
    ['overlapping tensors', rawFile({ a: f32([0, 8]), b: f32([4, 12]) }, new Uint8Array(12)), 'INVALID_ARGUMENT', 'overlap'],
    ['a gap between tensors', rawFile({ a: f32([0, 8]), b: f32([12, 20]) }, new Uint8Array(20)), 'INVALID_ARGUMENT', 'unused'],
    ['bytes after the last tensor', rawFile({ a: f32([0, 8]) }, new Uint8Array(9)), 'INVALID_ARGUMENT', '1 bytes after'],
    ['non-string metadata', rawFile({ __metadata__: { epoch: 3 } }), 'INVALID_ARGUMENT', '"epoch"'],
    ['a BOOL byte other than 0 or 1', rawFile({ m: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, [1, 2]), 'INVALID_ARGUMENT', 'byte 2 at index 1'],
    [
      'an I64 beyond int32',
      rawFile({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, [0, 0, 0, 0, 1, 0, 0, 0]),
      'UNSATISFIABLE',
      'holds 4294967296',
    ],
  ];
  it.each(cases)('refuses %s', (_, bytes, code, fragment) => {
    const err = expectDifflibError(read(bytes), 'readSafetensors', 'bytes', code);
    expect(err.detail).toContain(fragment);
  });
});

describe('writeSafetensors refuses bad input', () => {
  const ok: SafetensorsTensor = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
  const write = (tensors: unknown, metadata?: unknown) => () =>
    writeSafetensors(tensors as Record<string, SafetensorsTensor>, metadata as Record<string, string>);
  const cases: Array<[string, () => unknown, string, DifflibErrorCode]> = [
    ['a tensor named __metadata__', write({ __metadata__: ok }), 'tensors["__metadata__"]', 'INVALID_ARGUMENT'],
    ['tensors that are an array', write([ok]), 'tensors', 'INVALID_ARGUMENT'],
    ['a Map with a non-string key', write(new Map([[1, ok]])), 'tensors', 'INVALID_ARGUMENT'],
    ['a tensor that is not an object', write({ w: 3 }), 'tensors["w"]', 'INVALID_ARGUMENT'],
    ['an unknown dtype', write({ w: { ...ok, dtype: 'F8_E4M3' } }), 'tensors["w"].dtype', 'UNKNOWN_OPTION'],
    ['a shape that is not integers', write({ w: { ...ok, shape: [1.5] } }), 'tensors["w"].shape', 'INVALID_ARGUMENT'],
    ['data of the wrong array type', write({ w: { ...ok, data: new Float64Array(2) } }), 'tensors["w"].data', 'INVALID_ARGUMENT'],
    ['F16 data given as half bits', write({ w: { ...ok, dtype: 'F16', data: new Uint16Array(2) } }), 'tensors["w"].data', 'INVALID_ARGUMENT'],
    ['data that does not fill the shape', write({ w: { ...ok, shape: [3] } }), 'tensors["w"].data', 'SHAPE_MISMATCH'],
    ['a BOOL value of 2', write({ m: { dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 2]) } }), 'tensors["m"].data', 'INVALID_ARGUMENT'],
    ['metadata that is not an object', write({ w: ok }, 'pt'), 'metadata', 'INVALID_ARGUMENT'],
    ['a non-string metadata value', write({ w: ok }, { epoch: 3 }), 'metadata.epoch', 'INVALID_ARGUMENT'],
  ];
  it.each(cases)('refuses %s', (_, body, argument, code) => {
    expectDifflibError(body, 'writeSafetensors', argument, code);
  });
});

const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** Runs `script` under /usr/bin/python3 with `args`; returns its stdout parsed as JSON. */
function runPython(script: string, args: string[]): unknown {
  const result = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`python failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

const TORCH_DTYPES = `{'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
  'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool}`;

// A minimal independent reader (struct + json + torch.frombuffer): Debian has no
// python3-safetensors. For each tensor it compares the stored bits with what PyTorch
// itself makes of the source values, so F16/BF16 rounding is checked against PyTorch's.
const PY_CHECK = `
import json, struct, sys, torch
DT = ${TORCH_DTYPES}
BITS = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}
raw = open(sys.argv[1], 'rb').read()
n, = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n].decode('utf-8'))
spec = json.load(open(sys.argv[2]))
buf = bytearray(raw[8 + n:])
report = {'header_length': n, 'metadata': header.pop('__metadata__', None), 'names': sorted(header), 'mismatches': []}
for name, s in spec.items():
    info = header[name]
    dt = DT[info['dtype']]
    begin, end = info['data_offsets']
    t = torch.frombuffer(buf, dtype=dt, count=(end - begin) // torch.tensor([], dtype=dt).element_size(), offset=begin)
    t = t.reshape(info['shape'])
    src = torch.tensor(s['values'], dtype=torch.float64 if dt.is_floating_point else torch.int64).reshape(s['shape'])
    want = src.to(torch.float32).to(dt) if dt in (torch.float16, torch.bfloat16) else src.to(dt)
    same = info['dtype'] == s['dtype'] and list(t.shape) == s['shape'] and (
        torch.equal(t.view(BITS[dt]), want.view(BITS[dt])) if dt in BITS else torch.equal(t, want))
    if not same:
        report['mismatches'].append({'name': name, 'file': t.double().flatten().tolist(), 'torch': want.double().flatten().tolist()})
print(json.dumps(report))
`;

// Writes a file the way PyTorch users do by hand (tensors in insertion order, metadata last,
// as in the reference U-Net files) and reports the values as float64 lists.
const PY_WRITE = `
import json, struct, sys, torch
g = torch.Generator().manual_seed(7)
x = torch.randn(4, 5, generator=g) * torch.logspace(-6, 4, 5)
tensors = {
    'weight.half': x.half(), 'weight.bf16': x.bfloat16(), 'weight.f64': x.double() / 3, 'weight.f32': x,
    'steps': torch.tensor([-5, 0, 2**31 - 1, -2**31]), 'mask': x > 0, 'pixels': torch.arange(0, 250, 50, dtype=torch.uint8),
}
header, chunks, offset = {}, [], 0
for name, t in tensors.items():
    b = bytes(t.flatten().view(torch.uint8).tolist())
    header[name] = {'dtype': [k for k, v in (${TORCH_DTYPES}).items() if v == t.dtype][0], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
    chunks.append(b)
    offset += len(b)
header['__metadata__'] = {'format': 'pt'}
text = json.dumps(header).encode()
text += b' ' * (-len(text) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(text)) + text + b''.join(chunks))
print(json.dumps({name: {'dtype': header[name]['dtype'], 'shape': list(t.shape), 'values': t.double().flatten().tolist()} for name, t in tensors.items()}))
`;

describe('cross-check with PyTorch (/usr/bin/python3)', () => {
  it.skipIf(!hasTorch)('PyTorch reads what writeSafetensors writes, and rounds to F16/BF16 as it does (skipped without /usr/bin/python3 + torch)', () => {
    const rounding = new Float32Array(Array.from({ length: 64 }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 10 ** ((i % 13) - 8))));
    rounding.set([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, 1e6, 2 ** -25, 1.5 * 2 ** -25, 2 ** -126 * 1.00390625]);
    const spec: Record<string, { dtype: SafetensorsTensor['dtype']; shape: number[]; values: number[] }> = {};
    const tensors: Record<string, SafetensorsTensor> = {};
    const add = (name: string, t: SafetensorsTensor) => {
      tensors[name] = t;
      spec[name] = { dtype: t.dtype, shape: t.shape, values: Array.from(t.data as ArrayLike<number>) };
    };
    add('rounding.f16', { dtype: 'F16', shape: [8, 8], data: rounding });
    add('rounding.bf16', { dtype: 'BF16', shape: [64], data: rounding });
    add('f32', { dtype: 'F32', shape: [4, 16], data: rounding });
    add('f64', { dtype: 'F64', shape: [2, 2], data: new Float64Array([Math.PI, -1e-300, 2 ** 60, 0.1]) });
    add('i64', { dtype: 'I64', shape: [3], data: new Int32Array([-2147483648, -1, 2147483647]) });
    for (const name of ['i32', 'i16', 'i8', 'u8', 'mask']) add(name, ROUND_TRIP[name]!);

    const dir = mkdtempSync(path.join(tmpdir(), 'difflib-safetensors-'));
    try {
      writeFileSync(path.join(dir, 'ours.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
      writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec));
      const report = runPython(PY_CHECK, [path.join(dir, 'ours.safetensors'), path.join(dir, 'spec.json')]) as {
        header_length: number;
        metadata: unknown;
        names: string[];
        mismatches: unknown[];
      };
      expect(report.mismatches).toEqual([]);
      expect(report.names).toEqual(Object.keys(tensors).sort());
      expect(report.metadata).toEqual({ format: 'pt' });
      expect(report.header_length % 8).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasTorch)('readSafetensors reads what PyTorch writes (skipped without /usr/bin/python3 + torch)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'difflib-safetensors-'));
    try {
      const target = path.join(dir, 'torch.safetensors');
      const expected = runPython(PY_WRITE, [target]) as Record<string, { dtype: string; shape: number[]; values: number[] }>;
      const file = readSafetensors(readFileSync(target));
      expect(file.metadata).toEqual({ format: 'pt' });
      expect([...file.tensors.keys()]).toEqual(Object.keys(expected));
      for (const [name, want] of Object.entries(expected)) {
        const t = file.tensors.get(name)!;
        expect([t.dtype, t.shape], name).toEqual([want.dtype, want.shape]);
        expect(Array.from(t.data as ArrayLike<number>), name).toEqual(want.values);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
