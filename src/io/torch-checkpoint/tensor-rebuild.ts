// A tensor's values from its storage record: the strided view `_rebuild_tensor_v2`
// describes (storage offset, size, stride) gathered into contiguous row-major order, in the
// typed array of its dtype.
import { bfloat16ToFloatBits, halfToFloatBits } from '../half-precision';
import type { StorageRef, TensorRef } from './torch-globals';
import type { TorchCheckpointArrays, TorchCheckpointTensor, TorchDtype } from './types';
import type { Fail, ZipArchive } from './zip-archive';

type Stored = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array;
type StoredType = { new (length: number): Stored; new (buffer: ArrayBufferLike, byteOffset: number, length: number): Stored; BYTES_PER_ELEMENT: number };

/** How each dtype's elements sit in the file (halves as their 16-bit patterns). */
const STORED: Record<TorchDtype, StoredType> = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

let halfBits: Uint32Array | undefined;

/** The float32 bits of every binary16 value, indexed by its bits (256 kB, made once). */
function halfTable(): Uint32Array {
  if (!halfBits) {
    halfBits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) halfBits[h] = halfToFloatBits(h);
  }
  return halfBits;
}

/** The number of elements of a tensor of shape `shape` (Infinity when beyond 2^53). @internal */
export function elementCount(shape: readonly number[]): number {
  return shape.includes(0) ? 0 : shape.reduce((n, d) => n * d, 1);
}

/**
 * The tensor's values, contiguous. When the view is contiguous and the record aligned for
 * its dtype, `data` is a view of the file's bytes (float32, float64, int64, int32, uint8,
 * bool); otherwise it is a new array.
 * @internal
 */
export function rebuildTensor(tensor: TensorRef, archive: ZipArchive, fail: Fail): TorchCheckpointTensor {
  const { storage, offset, shape, stride } = tensor;
  const all = storageArray(storage, archive, fail);
  const count = elementCount(shape);
  let values: Stored;
  if (isContiguous(shape, stride)) {
    values = all.subarray(offset, offset + count);
  } else {
    values = new STORED[storage.dtype](count);
    gather(all, values, shape, stride, offset);
  }
  const dtype = storage.dtype;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const widened = new Float32Array(count);
    const bits = new Uint32Array(widened.buffer);
    const halves = values as Uint16Array;
    if (dtype === 'float16') {
      const table = halfTable();
      for (let i = 0; i < count; i++) bits[i] = table[halves[i]!]!;
    } else {
      for (let i = 0; i < count; i++) bits[i] = bfloat16ToFloatBits(halves[i]!);
    }
    return { dtype, shape, data: widened };
  }
  if (dtype === 'bool') {
    const bad = (values as Uint8Array).findIndex((v) => v > 1);
    if (bad >= 0) throw fail(`has bool storage ${storage.record} holding byte ${values[bad]}; a bool must be 0 or 1`);
  }
  return { dtype, shape, data: values as TorchCheckpointArrays[typeof dtype] } as TorchCheckpointTensor;
}

/** The whole storage record as a typed array: a view of the file when aligned, else a copy. */
function storageArray(storage: StorageRef, archive: ZipArchive, fail: Fail): Stored {
  const bytes = archive.read(storage.record);
  if (!bytes) throw fail(`lacks storage record ${storage.record}`);
  const Type = STORED[storage.dtype];
  if ((bytes.byteOffset % Type.BYTES_PER_ELEMENT) === 0) return new Type(bytes.buffer, bytes.byteOffset, storage.numel);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Type(copy.buffer, 0, storage.numel);
}

/** Whether a view with these strides walks its elements in row-major order with no gaps. */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    // A dimension of size 1 is never stepped along, so its stride does not matter.
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/** Copies the strided view (`offset`, `shape`, `stride`) of `source` into `out` in row-major order. */
function gather(source: Stored, out: Stored, shape: readonly number[], stride: readonly number[], offset: number): void {
  const src = source as unknown as Record<number, number>;
  const dst = out as unknown as Record<number, number>;
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < out.length; i++) {
    dst[i] = src[at]!;
    // Odometer step: advance the last axis, carrying into earlier ones.
    for (let d = rank - 1; d >= 0; d--) {
      at += stride[d]!;
      if (++index[d]! < shape[d]!) break;
      at -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
}
