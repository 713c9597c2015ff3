// The safetensors format: its dtypes, the typed arrays that hold them, and the rules
// the reader and the writer share.

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

/** @internal */
export interface DtypeInfo {
  /** Bytes per element in the file. */
  bytes: number;
  /** The in-memory array class (for reading and for checking what is given to write). */
  array: new (length: number) => SafetensorsArrays[SafetensorsDtype];
}

// In increasing alignment, the order of the reference `Dtype` enum (a subset of it): the
// official writer lays tensors out in descending alignment, then by name.
/** @internal */
export const DTYPES: { [D in SafetensorsDtype]: DtypeInfo } = {
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
/** @internal */
export const DTYPE_NAMES = Object.keys(DTYPES) as SafetensorsDtype[];

/** The reference implementation refuses larger headers (a guard against memory blow-ups). */
/** @internal */
export const MAX_HEADER_BYTES = 100_000_000;
/** @internal */
export const METADATA_KEY = '__metadata__';

/** @internal */
export function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** @internal */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** @internal */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Orders strings by code point, i.e. by their UTF-8 bytes, as the Rust writer sorts names. */
/** @internal */
export function compareCodePoints(a: string, b: string): number {
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

/** @internal */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

