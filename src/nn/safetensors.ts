import { DifflibError, describeValue, type DifflibErrorCode } from '../errors';
import { bfloat16ToFloatBits, floatBitsToBfloat16, floatBitsToHalf, halfToFloatBits } from './safetensors/half-precision';

/**
 * The typed array that holds each safetensors dtype in memory. Half-precision floats
 * (`F16`, `BF16`) widen to float32 exactly; `I64` narrows to int32 (reading refuses a
 * value outside the int32 range); `BOOL` is one byte per element, 0 or 1.
 */
export interface SafetensorsArrays {
  /** 64-bit float. */
  F64: Float64Array;
  /** 32-bit float, the usual dtype of PyTorch weights. */
  F32: Float32Array;
  /** IEEE half precision, held as float32. */
  F16: Float32Array;
  /** bfloat16, held as float32. */
  BF16: Float32Array;
  /** 64-bit signed integer (PyTorch's `long`), held as int32. */
  I64: Int32Array;
  /** 32-bit signed integer. */
  I32: Int32Array;
  /** 16-bit signed integer. */
  I16: Int16Array;
  /** 8-bit signed integer. */
  I8: Int8Array;
  /** 8-bit unsigned integer. */
  U8: Uint8Array;
  /** Boolean, one byte per element, 0 or 1. */
  BOOL: Uint8Array;
}

/** The safetensors element types difflib reads and writes. */
export type SafetensorsDtype = keyof SafetensorsArrays;

/**
 * One tensor of a safetensors file: its dtype, its shape (row-major, as PyTorch's
 * `state_dict` holds it, e.g. `[out, in, kh, kw]` for a convolution kernel) and its
 * elements in the typed array `SafetensorsArrays` names for that dtype.
 */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: {
    /** The element type stored in the file. */
    dtype: D;
    /** The dimensions; `[]` is a scalar (one element). */
    shape: number[];
    /** The elements in row-major order; length is the product of `shape`. */
    data: SafetensorsArrays[D];
  };
}[SafetensorsDtype];

/** What `readSafetensors` finds in a file. */
export interface SafetensorsFile {
  /** The tensors by name, in the order of their data in the file. */
  tensors: Map<string, SafetensorsTensor>;
  /** The header's `__metadata__` string map; `{}` when the file has none. */
  metadata: Record<string, string>;
}

interface DtypeInfo {
  /** Bytes per element in the file. */
  bytes: number;
  /** The in-memory array class (for reading and for checking what is given to write). */
  array: new (length: number) => SafetensorsArrays[SafetensorsDtype];
}

// In increasing alignment, the order of the reference `Dtype` enum (a subset of it): the
// official writer lays tensors out in descending alignment, then by name.
const DTYPES: { [D in SafetensorsDtype]: DtypeInfo } = {
  BOOL: { bytes: 1, array: Uint8Array },
  U8: { bytes: 1, array: Uint8Array },
  I8: { bytes: 1, array: Int8Array },
  I16: { bytes: 2, array: Int16Array },
  F16: { bytes: 2, array: Float32Array },
  BF16: { bytes: 2, array: Float32Array },
  I32: { bytes: 4, array: Int32Array },
  F32: { bytes: 4, array: Float32Array },
  F64: { bytes: 8, array: Float64Array },
  I64: { bytes: 8, array: Int32Array },
};
const DTYPE_NAMES = Object.keys(DTYPES) as SafetensorsDtype[];

/** The reference implementation refuses larger headers (a guard against memory blow-ups). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Orders strings by code point, i.e. by their UTF-8 bytes, as the Rust writer sorts names. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return (ca.done ? 0 : 1) - (cb.done ? 0 : 1);
    const diff = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Parses a safetensors file, the weight format PyTorch and Hugging Face exchange
 * (`safetensors.torch.save_file`). Nothing is executed and no tensor is made: the
 * result is plain typed arrays, ready for `tf.tensor(data, shape)`.
 *
 * Layout of the file:
 *
 * ```text
 * bytes 0..8        N, the header length: unsigned 64-bit little-endian
 * bytes 8..8+N      header: UTF-8 JSON, possibly padded with trailing spaces
 *                   { "<name>": { "dtype": "F32", "shape": [128, 32], "data_offsets": [begin, end] },
 *                     ...,
 *                     "__metadata__": { "<key>": "<string value>", ... } }   (optional)
 * bytes 8+N..       the data buffer: each tensor's elements, row-major, little-endian,
 *                   at [begin, end) relative to the buffer's start
 * ```
 *
 * The file is validated as strictly as the reference reader does: the tensors must
 * tile the data buffer exactly (no overlap, no gap, no trailing bytes) and each
 * `end - begin` must equal the element count times the dtype's size.
 *
 * `F32`, `F64`, `I32`, `I16`, `I8`, `U8` and `BOOL` data whose offset in memory is
 * aligned to the element size is returned as a view of `bytes` (no copy: writing to it
 * writes to `bytes`); unaligned data is copied. Any view works: a Node `Buffer` from
 * `readFileSync` (small ones sit at an offset in a shared pool), a `subarray`, a header
 * whose length is not a multiple of 8. `F16` and `BF16` are widened to
 * float32 exactly and `I64` is narrowed to int32, both into new arrays. Typed arrays
 * use the platform's byte order, which is little-endian on every platform JavaScript
 * commonly runs on (x86, ARM).
 *
 * @param bytes - the whole file: a `Uint8Array` (a Node `Buffer` is one) or an
 *   `ArrayBuffer` (e.g. `await (await fetch(url)).arrayBuffer()`).
 * @returns the tensors, in the order of their data in the file, and the metadata.
 * @throws DifflibError with argument `bytes` when the file is truncated, its header
 *   is not UTF-8 JSON of the form above, a dtype is not one of `SafetensorsDtype`
 *   (`UNKNOWN_OPTION`), a tensor's byte range disagrees with its dtype and shape
 *   (`SHAPE_MISMATCH`), the ranges overlap, leave gaps or overrun the file, a `BOOL`
 *   holds a byte other than 0 or 1, or an `I64` value lies outside the int32 range
 *   (`UNSATISFIABLE`).
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const { tensors, metadata } = readSafetensors(readFileSync('unet.safetensors'));
 * const w = tensors.get('time_embed.0.weight')!; // { dtype: 'F32', shape: [128, 32], data: Float32Array }
 * const kernel = tf.tensor(w.data, w.shape);
 * ```
 */
export function readSafetensors(bytes: Uint8Array | ArrayBuffer): SafetensorsFile {
  const fn = 'readSafetensors';
  const fail: Fail = (detail, code = 'INVALID_ARGUMENT') => new DifflibError(code, fn, 'bytes', detail);
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    throw fail(`must be a Uint8Array (or Node Buffer) or an ArrayBuffer holding a safetensors file, got ${describeValue(bytes)}`);
  }
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (bytes.length < 8) {
    throw fail(`is ${bytes.length} bytes long, too short for the 8-byte header length that starts a safetensors file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (headerLength > MAX_HEADER_BYTES) {
    throw fail(`declares a header of ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} safetensors allows`);
  }
  if (8 + headerLength > bytes.length) {
    throw fail(`declares a header of ${headerLength} bytes but only ${bytes.length - 8} bytes follow the length field`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw fail('has a header that is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`has a header that is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw fail(`has a header that is not a JSON object, got ${describeValue(header)}`);

  const metadata = readMetadata(header[METADATA_KEY], fail);
  const dataStart = 8 + headerLength;
  const bufferLength = bytes.length - dataStart;
  const entries = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, entry]) => readEntry(name, entry, bufferLength, fail));
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || compareCodePoints(a.name, b.name));

  let covered = 0;
  let previous = '';
  for (const { name, begin, end } of entries) {
    if (begin < covered) throw fail(`tensor "${name}" data_offsets [${begin},${end}] overlap those of "${previous}"`);
    if (begin > covered) throw fail(`leaves bytes ${covered}..${begin} of the data buffer unused before tensor "${name}"`);
    covered = end;
    previous = name;
  }
  if (covered !== bufferLength) {
    throw fail(
      `has ${bufferLength - covered} bytes after the last tensor's data (buffer is ${bufferLength} bytes, tensors cover ${covered})`,
    );
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, dtype, shape, begin } of entries) {
    const data = decode(dtype, bytes, dataStart + begin, elementCount(shape), (detail, code) =>
      fail(`tensor "${name}" (${dtype}) ${detail}`, code),
    );
    tensors.set(name, { dtype, shape, data } as SafetensorsTensor);
  }
  return { tensors, metadata };
}

type Fail = (detail: string, code?: DifflibErrorCode) => DifflibError;

function readMetadata(value: unknown, fail: Fail): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw fail(`has a "${METADATA_KEY}" that is not an object of strings, got ${describeValue(value)}`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw fail(`has "${METADATA_KEY}" entry "${key}" that is not a string, got ${describeValue(v)}`);
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function readEntry(name: string, entry: unknown, bufferLength: number, fail: Fail): HeaderEntry {
  const where = `tensor "${name}"`;
  if (!isPlainObject(entry)) throw fail(`${where} has a header entry that is not an object, got ${describeValue(entry)}`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isDtype(dtype)) {
    throw fail(`${where} has dtype ${describeValue(dtype)}; supported dtypes are ${DTYPE_NAMES.join(', ')}`, 'UNKNOWN_OPTION');
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(`${where} has shape ${describeValue(shape)}; expected an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0]! > offsets[1]!) {
    throw fail(`${where} has data_offsets ${describeValue(offsets)}; expected [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > bufferLength) {
    throw fail(`${where} data_offsets [${begin},${end}] run past the end of the ${bufferLength}-byte data buffer`);
  }
  const expected = elementCount(shape) * DTYPES[dtype].bytes;
  if (end - begin !== expected) {
    throw fail(
      `${where} data_offsets [${begin},${end}] span ${end - begin} bytes, but ${dtype} [${shape.join(',')}] needs ${expected}`,
      'SHAPE_MISMATCH',
    );
  }
  return { name, dtype, shape, begin, end };
}

/**
 * A typed array over `count` elements at `start` of `bytes`: a view when aligned, else a
 * copy into a buffer of its own. The copy is made with `set` on a new `Uint8Array`, never
 * with `bytes.slice(...).buffer`: a Node `Buffer`'s `slice` is a view, whose `.buffer` is
 * the whole (pooled) allocation.
 */
function viewOrCopy<T>(
  ArrayType: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
  bytes: Uint8Array,
  start: number,
  count: number,
): T {
  const offset = bytes.byteOffset + start;
  if (offset % ArrayType.BYTES_PER_ELEMENT === 0) return new ArrayType(bytes.buffer, offset, count);
  const copy = new Uint8Array(count * ArrayType.BYTES_PER_ELEMENT);
  copy.set(bytes.subarray(start, start + copy.length));
  return new ArrayType(copy.buffer, 0, count);
}

function decode(
  dtype: SafetensorsDtype,
  bytes: Uint8Array,
  start: number,
  count: number,
  fail: Fail,
): SafetensorsArrays[SafetensorsDtype] {
  switch (dtype) {
    case 'F64':
      return viewOrCopy(Float64Array, bytes, start, count);
    case 'F32':
      return viewOrCopy(Float32Array, bytes, start, count);
    case 'I32':
      return viewOrCopy(Int32Array, bytes, start, count);
    case 'I16':
      return viewOrCopy(Int16Array, bytes, start, count);
    case 'I8':
      return viewOrCopy(Int8Array, bytes, start, count);
    case 'U8':
      return viewOrCopy(Uint8Array, bytes, start, count);
    case 'BOOL': {
      const data = viewOrCopy(Uint8Array, bytes, start, count);
      const bad = data.findIndex((v) => v > 1);
      if (bad >= 0) throw fail(`holds byte ${data[bad]} at index ${bad}; a BOOL must be 0 or 1`);
      return data;
    }
    case 'F16':
    case 'BF16': {
      const halves = viewOrCopy(Uint16Array, bytes, start, count);
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      const widen = dtype === 'F16' ? halfToFloatBits : bfloat16ToFloatBits;
      for (let i = 0; i < count; i++) bits[i] = widen(halves[i]!);
      return out;
    }
    case 'I64': {
      const words = viewOrCopy(Int32Array, bytes, start, 2 * count);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const low = words[2 * i]!;
        const high = words[2 * i + 1]!;
        // It fits in int32 exactly when the high word is the sign extension of the low one.
        if (high !== low >> 31) {
          const value = BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low >>> 0));
          throw fail(`holds ${value} at index ${i}, outside the int32 range that I64 is read into`, 'UNSATISFIABLE');
        }
        out[i] = low;
      }
      return out;
    }
  }
}

/**
 * Serialises tensors to a safetensors file that PyTorch (`safetensors.torch.load_file`)
 * and every other safetensors reader can load. The layout is the one `readSafetensors`
 * documents, produced exactly as the reference (Rust) writer produces it, so the same
 * input always gives the same bytes:
 *
 * - the header is compact JSON with `__metadata__` first (its keys sorted; omitted when
 *   `metadata` is empty), then the tensors in data order, each as
 *   `{"dtype":…,"shape":[…],"data_offsets":[begin,end]}`, padded with spaces to a
 *   multiple of 8 bytes;
 * - the data is laid out by descending element alignment (8-byte dtypes first, then 4,
 *   2, 1), then by name in code-point order, with no gaps, so every tensor is aligned.
 *
 * `F16` and `BF16` data is given as float32 and rounded to nearest, ties to even (as
 * PyTorch's `.half()` / `.bfloat16()`; out-of-range values become ±Infinity); `I64`
 * data is given as int32 and sign-extended. Everything else is written bit for bit.
 *
 * @param tensors - the tensors by name, as a `Map` or a plain object; each `data` must
 *   be the typed array `SafetensorsArrays` names for its dtype, with as many elements
 *   as its `shape` holds. A `SafetensorsFile`'s `tensors` can be passed back as they are.
 * @param metadata - free-form string pairs stored under `__metadata__` (PyTorch's
 *   writer records `{"format": "pt"}`).
 * @returns the file's bytes.
 * @throws DifflibError when `tensors` is not a Map or object of such tensors (argument
 *   `tensors`, or `tensors["<name>"].dtype|shape|data` for one tensor), a tensor is
 *   named `__metadata__` (the header's reserved key), or a metadata value is not a string
 *   (argument `metadata.<key>`).
 *
 * @example
 * ```ts
 * const bytes = writeSafetensors(
 *   { 'out.2.bias': { dtype: 'F32', shape: [6], data: new Float32Array(6) } },
 *   { format: 'pt' },
 * );
 * // Node: writeFileSync('weights.safetensors', bytes)
 * ```
 */
export function writeSafetensors(
  tensors: Record<string, SafetensorsTensor> | ReadonlyMap<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const fn = 'writeSafetensors';
  const entries = checkTensors(fn, tensors);
  const metadataEntries = checkMetadata(fn, metadata);

  entries.sort(
    ([nameA, a], [nameB, b]) =>
      DTYPE_NAMES.indexOf(b.dtype) - DTYPE_NAMES.indexOf(a.dtype) || compareCodePoints(nameA, nameB),
  );
  const header: Array<[string, string]> = [];
  if (metadataEntries.length > 0) header.push([METADATA_KEY, jsonObject(metadataEntries.map(([k, v]) => [k, JSON.stringify(v)]))]);
  const offsets: number[] = [];
  let dataLength = 0;
  for (const [name, { dtype, shape, data }] of entries) {
    offsets.push(dataLength);
    const end = dataLength + data.length * DTYPES[dtype].bytes;
    header.push([name, JSON.stringify({ dtype, shape, data_offsets: [dataLength, end] })]);
    dataLength = end;
  }
  const json = new TextEncoder().encode(jsonObject(header));
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + dataLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  entries.forEach(([, tensor], i) => encode(tensor, out, 8 + headerLength + offsets[i]!));
  return out;
}

/**
 * `{"k":v,...}` from already-serialised values, keeping the given key order (an object
 * built with `Object.fromEntries` would move integer-like names such as `"0"` first).
 */
function jsonObject(entries: Array<[string, string]>): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
}

function checkTensors(
  fn: string,
  tensors: Record<string, SafetensorsTensor> | ReadonlyMap<string, SafetensorsTensor>,
): Array<[string, SafetensorsTensor]> {
  let entries: Array<[unknown, unknown]>;
  if (tensors instanceof Map) entries = [...tensors];
  else if (isPlainObject(tensors)) entries = Object.entries(tensors);
  else {
    const got = describeValue(tensors);
    throw new DifflibError('INVALID_ARGUMENT', fn, 'tensors', `must be a Map or a plain object of tensors by name, got ${got}`);
  }
  for (const [name, tensor] of entries) {
    if (typeof name !== 'string') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'tensors', `must be keyed by strings, got key ${describeValue(name)}`);
    }
    const arg = `tensors[${JSON.stringify(name)}]`;
    if (name === METADATA_KEY) {
      throw new DifflibError('INVALID_ARGUMENT', fn, arg, `collides with the header's reserved "${METADATA_KEY}" key; rename the tensor`);
    }
    if (typeof tensor !== 'object' || tensor === null) {
      throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be an object { dtype, shape, data }, got ${describeValue(tensor)}`);
    }
    const { dtype, shape, data } = tensor as Record<string, unknown>;
    if (!isDtype(dtype)) {
      throw new DifflibError('UNKNOWN_OPTION', fn, `${arg}.dtype`, `must be one of ${DTYPE_NAMES.join(', ')}, got ${describeValue(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      const got = describeValue(shape);
      throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.shape`, `must be an array of non-negative integers, got ${got}`);
    }
    const Expected = DTYPES[dtype].array;
    if (!(data instanceof Expected)) {
      const got = describeValue(data);
      throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.data`, `must be a ${Expected.name} for dtype ${dtype}, got ${got}`);
    }
    if (data.length !== elementCount(shape)) {
      throw new DifflibError(
        'SHAPE_MISMATCH',
        fn,
        `${arg}.data`,
        `has ${data.length} elements but shape [${shape.join(',')}] holds ${elementCount(shape)}`,
      );
    }
    if (dtype === 'BOOL') {
      const bad = (data as Uint8Array).findIndex((v) => v > 1);
      if (bad >= 0) {
        throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.data`, `holds ${data[bad]} at index ${bad}; a BOOL must be 0 or 1`);
      }
    }
  }
  return entries as Array<[string, SafetensorsTensor]>;
}

function checkMetadata(fn: string, metadata: unknown): Array<[string, string]> {
  if (!isPlainObject(metadata)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'metadata', `must be a plain object of strings, got ${describeValue(metadata)}`);
  }
  const entries = Object.entries(metadata);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `metadata.${key}`, `must be a string, got ${describeValue(value)}`);
    }
  }
  return (entries as Array<[string, string]>).sort(([a], [b]) => compareCodePoints(a, b));
}

/** Writes one tensor's elements at `offset`, which the alignment-first layout keeps aligned. */
function encode({ dtype, data }: SafetensorsTensor, out: Uint8Array, offset: number): void {
  switch (dtype) {
    case 'F16':
    case 'BF16': {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      const halves = new Uint16Array(out.buffer, offset, data.length);
      const narrow = dtype === 'F16' ? floatBitsToHalf : floatBitsToBfloat16;
      for (let i = 0; i < bits.length; i++) halves[i] = narrow(bits[i]!);
      return;
    }
    case 'I64': {
      const words = new Int32Array(out.buffer, offset, 2 * data.length);
      for (let i = 0; i < data.length; i++) {
        words[2 * i] = data[i]!;
        words[2 * i + 1] = data[i]! >> 31;
      }
      return;
    }
    default:
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  }
}
