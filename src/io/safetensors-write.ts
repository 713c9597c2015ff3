import { DifflibError, describeValue } from '../errors';
import { floatBitsToBfloat16, floatBitsToHalf } from './half-precision';
import {
  DTYPES,
  DTYPE_NAMES,
  METADATA_KEY,
  compareCodePoints,
  elementCount,
  isCount,
  isDtype,
  isPlainObject,
  type SafetensorsTensor,
} from './safetensors-format';

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
