import * as tf from '@tensorflow/tfjs-core';

/** A tensor's values in place on the wasm heap. */
type HeapArray = Float32Array | Int32Array | Uint8Array;

/** The parts of tfjs-backend-wasm's BackendWasm the slices use (it exports no such type). */
interface HeapBackend extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): HeapArray;
}

/**
 * Runs shorter than this are copied element by element: a typed-array `set` per run costs
 * more (splitting [8, 32, 32, 128] into two halves of the channels: 4.2 ms with `set`, 2.5
 * ms element by element).
 */
const SHORT_RUN = 128;

/** to[at, at + run) = from[offset, offset + run). */
function copyRun(from: HeapArray, offset: number, to: HeapArray, at: number, run: number): void {
  if (run < SHORT_RUN) {
    for (let k = 0; k < run; k++) to[at + k] = from[offset + k]!;
  } else {
    to.set(from.subarray(offset, offset + run), at);
  }
}

/**
 * x[begin : begin + size] copied as runs: the trailing axes that are taken whole, with the
 * last axis that is not, make one contiguous run per index of the axes before them. x has
 * rank ≥ 1 (tfjs refuses to slice a scalar).
 */
function sliceOnHeap(backend: HeapBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  // Views taken after makeOutput, which may grow (and so detach) the heap.
  const from = backend.typedArrayFromHeap(x);
  const to = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  let inner = rank - 1; // runs span axes [inner, rank)
  while (inner > 0 && size[inner] === x.shape[inner]) inner--;
  const run = tf.util.sizeFromShape(size.slice(inner));
  const runs = tf.util.sizeFromShape(size.slice(0, inner));
  const index = new Array<number>(inner).fill(0);
  for (let r = 0; r < runs; r++) {
    let offset = begin[inner]! * (strides[inner] ?? 1); // the last axis has no stride entry: 1
    for (let d = 0; d < inner; d++) offset += (begin[d]! + index[d]!) * strides[d]!;
    copyRun(from, offset, to, r * run, run);
    for (let d = inner - 1; d >= 0 && ++index[d]! === size[d]; d--) index[d] = 0;
  }
  return out;
}

/**
 * `Slice` on wasm reading x through a view of the heap. wasm's own kernel first copies
 * the whole of x out of the heap (`readSync`) for every slice, so each of SplitV's parts
 * cost a copy of x: attention's q/k/v split of [4, 3, 65536] took 3.7 ms, 0.4 ms this way.
 * Strings go to `fallback`.
 * @internal
 */
export function heapSlice(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return fallback(args);
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    const [begin_, size_] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceOnHeap(args.backend as HeapBackend, x, begin_!, size_!);
  };
}

/** `SplitV` on wasm as {@link heapSlice}s (wasm's own calls its copying slice). Strings go to `fallback`. @internal */
export function heapSplitV(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return fallback(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[$axis] = s;
      const part = sliceOnHeap(args.backend as HeapBackend, x, [...begin], size);
      begin[$axis]! += s;
      return part;
    });
  };
}

/**
 * `Concat` on wasm, its inputs copied into the output a run at a time with short runs
 * copied element by element (wasm's own `set`s every run: the U-Net's skip concatenation
 * of two [8, 32, 32, 64] along the channels is 8 192 runs of 64 per input). Strings, and
 * inputs of other dtypes than the first, go to `fallback`.
 * @internal
 */
export function heapConcat(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const dtype = inputs[0]!.dtype;
    if (dtype === 'string' || inputs.some((t) => t.dtype !== dtype)) return fallback(args);
    const axis = tf.util.parseAxisParam((args.attrs as unknown as tf.ConcatAttrs).axis, inputs[0]!.shape)[0]!;
    tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    const backend = args.backend as HeapBackend;
    const out = backend.makeOutput(tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis), dtype);
    const parts = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    const outer = tf.util.sizeFromShape(out.shape.slice(0, axis));
    const runs = parts.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const width = runs.reduce((a, b) => a + b, 0);
    // Views taken after makeOutput, which may grow (and so detach) the heap.
    const to = backend.typedArrayFromHeap(out);
    const froms = parts.map((t) => backend.typedArrayFromHeap(t));
    for (let b = 0; b < outer; b++) {
      let at = b * width;
      froms.forEach((from, i) => {
        copyRun(from, b * runs[i]!, to, at, runs[i]!);
        at += runs[i]!;
      });
    }
    return out;
  };
}
