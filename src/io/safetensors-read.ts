import { DifflibError, describeValue, type DifflibErrorCode } from '../errors';
import { bfloat16ToFloatBits, halfToFloatBits } from './half-precision';
import {
  DTYPES,
  DTYPE_NAMES,
  MAX_HEADER_BYTES,
  METADATA_KEY,
  compareCodePoints,
  elementCount,
  isCount,
  isDtype,
  isPlainObject,
  type SafetensorsArrays,
  type SafetensorsDtype,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './safetensors-format';

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
