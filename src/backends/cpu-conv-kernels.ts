import * as tf from '@tensorflow/tfjs-core';
import {
  conv2dBackpropFilter as backpropFilterValues,
  conv2dBackpropInput as backpropInputValues,
  conv2dForward,
  type ConvGeometry,
  unpad,
} from './cpu-conv-gemm';
import { pair } from './kernel-tensors';

/**
 * Kernel functions for the tfjs cpu backend running Conv2D, FusedConv2D,
 * Conv2DBackpropInput and Conv2DBackpropFilter on the blocked GEMMs of cpu-conv-gemm.ts.
 * Each is made from the cpu kernel it replaces and hands the call to it, unchanged,
 * where it does not apply: NCHW, dilations > 1, a dtype other than float32, an empty
 * tensor, a bias or PReLU weight that is neither one value nor one per output channel,
 * an activation tfjs does not know (its kernel then throws its own error).
 * @internal
 */

type Values = Float32Array;

/** The part of tfjs-backend-cpu's MathBackendCPU its own kernels read inputs through. */
interface CpuStorage {
  data?: { get(dataId: tf.DataId): { values?: unknown } | undefined };
}

/**
 * An input's values, as tfjs-backend-cpu's kernels read them: straight from the
 * backend's storage (float32 tensors live there as Float32Arrays), not through
 * `readSync`, which is the public read-back API (and what benchmarks count as readbacks).
 */
function valuesOf(backend: tf.KernelBackend, info: tf.TensorInfo): Values {
  const stored = (backend as unknown as CpuStorage).data?.get(info.dataId)?.values;
  if (stored instanceof Float32Array) return stored;
  const values = backend.readSync(info.dataId);
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

function output(backend: tf.KernelBackend, shape: number[], values: Float32Array): tf.TensorInfo {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}

const isFloat4d = (info: tf.TensorInfo | undefined): info is tf.TensorInfo =>
  info !== undefined && info.dtype === 'float32' && info.shape.length === 4 && info.shape.every((d) => d > 0);

/**
 * The geometry of a dilation-1 NHWC conv of an input of `inShape` with a filter of
 * `filterShape`, or null where tfjs's own kernel must run (or raise its own error).
 */
function geometry(
  inShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  dilations: number | [number, number] | undefined,
  pad: tf.Conv2DAttrs['pad'],
  dimRoundingMode: tf.Conv2DAttrs['dimRoundingMode'],
  dataFormat: string | undefined,
): ConvGeometry | null {
  if (dataFormat !== 'NHWC') return null;
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) return null;
  if (inShape.length !== 4 || filterShape.length !== 4 || inShape[3] !== filterShape[2]) return null;
  let info: tf.backend_util.Conv2DInfo;
  try {
    info = tf.backend_util.computeConv2DInfo(
      inShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
  } catch {
    return null;
  }
  if (info.outHeight <= 0 || info.outWidth <= 0 || [...inShape, ...filterShape].some((d) => !(d > 0))) return null;
  // As int32s (| 0): a field V8 once saw hold a non-Smi (-0, a heap number) makes the
  // loops that read it bail out of optimised code with "lost precision".
  return {
    batch: info.batchSize | 0,
    inHeight: info.inHeight | 0,
    inWidth: info.inWidth | 0,
    inChannels: info.inChannels | 0,
    outHeight: info.outHeight | 0,
    outWidth: info.outWidth | 0,
    outChannels: info.outChannels | 0,
    filterHeight: info.filterHeight | 0,
    filterWidth: info.filterWidth | 0,
    strideHeight: info.strideHeight | 0,
    strideWidth: info.strideWidth | 0,
    padTop: info.padInfo.top | 0,
    padLeft: info.padInfo.left | 0,
  };
}

const outShape = (g: ConvGeometry) => [g.batch, g.outHeight, g.outWidth, g.outChannels];
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** `Conv2D` (tf.conv2d): y [N, outH, outW, O] from x [N, H, W, C] and filter [kh, kw, C, O]. */
export function makeConv2D(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as tf.Conv2DAttrs;
    if (!isFloat4d(x) || !isFloat4d(filter)) return original(args);
    const g = geometry(x.shape, filter.shape, strides, dilations, pad, dimRoundingMode, dataFormat);
    if (g === null) return original(args);
    const backend = args.backend as tf.KernelBackend;
    const y = conv2dForward(valuesOf(backend, x), valuesOf(backend, filter), g);
    return output(backend, outShape(g), unpad(y));
  };
}

/** What a bias or PReLU weight broadcasts as over [N, outH, outW, O]: null where neither. */
function perChannel(info: tf.TensorInfo, channels: number): 'scalar' | 'channel' | null {
  if (info.dtype !== 'float32' || info.shape.length > 4) return null;
  const size = info.shape.reduce((a, b) => a * b, 1);
  if (size === 1) return 'scalar';
  const leading = info.shape.slice(0, -1);
  return info.shape[info.shape.length - 1] === channels && leading.every((d) => d === 1) ? 'channel' : null;
}

/**
 * The epilogue, in place, each step rounded to float32 as tfjs's Add and activation
 * kernels round it. One loop per activation, so V8 optimises each on its own (a switch
 * inside one loop deoptimised on every activation it had not yet seen).
 */
function addBias(y: Float32Array, bias: Float32Array, channels: number): void {
  for (let p = 0; p < y.length; p += channels) {
    for (let o = 0; o < channels; o++) y[p + o] = y[p + o]! + bias[o]!;
  }
}

function prelu(y: Float32Array, alpha: Float32Array, channels: number): void {
  for (let p = 0; p < y.length; p += channels) {
    for (let o = 0; o < channels; o++) {
      const v = y[p + o]!;
      if (v < 0) y[p + o] = alpha[o]! * v;
    }
  }
}

function leakyRelu(y: Float32Array, alpha: number): void {
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v < 0) y[i] = alpha * v;
  }
}

/** tfjs-backend-cpu's formulas (its Relu, Relu6, Elu and Sigmoid kernels). */
const UNARY: Record<string, (y: Float32Array) => void> = {
  relu: (y) => {
    for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]!);
  },
  relu6: (y) => {
    for (let i = 0; i < y.length; i++) y[i] = Math.min(Math.max(0, y[i]!), 6);
  },
  elu: (y) => {
    for (let i = 0; i < y.length; i++) {
      const v = y[i]!;
      y[i] = v >= 0 ? v : Math.exp(v) - 1;
    }
  },
  sigmoid: (y) => {
    for (let i = 0; i < y.length; i++) y[i] = 1 / (1 + Math.exp(-y[i]!));
  },
};

const ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu']);

/**
 * `FusedConv2D` (tf.fused.conv2d, tfjs-layers' conv layers): conv + bias + activation.
 * The epilogue rounds as tfjs's cpu kernels do (conv to float32, + bias to float32, the
 * activation of that value with their formulas, to float32), so it differs from tfjs's
 * only by the conv's summation order.
 */
export function makeFusedConv2D(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights: alpha } = args.inputs as unknown as tf.FusedConv2DInputs;
    const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
    const { strides, pad, dataFormat, dilations, dimRoundingMode, leakyreluAlpha } = attrs;
    const activation: string = attrs.activation ?? 'linear';
    if (!isFloat4d(x) || !isFloat4d(filter) || !ACTIVATIONS.has(activation)) return original(args);
    const g = geometry(x.shape, filter.shape, strides, dilations, pad, dimRoundingMode, dataFormat);
    if (g === null) return original(args);
    const O = g.outChannels;
    const biasKind = bias === undefined || bias === null ? 'none' : perChannel(bias, O);
    const alphaKind = activation !== 'prelu' ? 'none' : alpha === undefined || alpha === null ? null : perChannel(alpha, O);
    if (biasKind === null || alphaKind === null) return original(args);

    const backend = args.backend as tf.KernelBackend;
    const y = unpad(conv2dForward(valuesOf(backend, x), valuesOf(backend, filter), g));
    if (biasKind !== 'none') addBias(y, valuesOf(backend, bias!), biasKind === 'channel' ? O : 1);
    if (activation === 'prelu') {
      prelu(y, valuesOf(backend, alpha!), alphaKind === 'channel' ? O : 1);
    } else if (activation === 'leakyrelu') {
      leakyRelu(y, leakyreluAlpha as number);
    } else if (activation !== 'linear') {
      UNARY[activation]!(y);
    }
    return output(backend, outShape(g), y);
  };
}

/**
 * `Conv2DBackpropInput` (conv2d's input gradient, tf.conv2dTranspose): dx with shape
 * `inputShape` [N, H, W, C] from dy [N, outH, outW, O] and filter [kh, kw, C, O].
 */
export function makeConv2DBackpropInput(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs;
    const { inputShape, strides, pad, dataFormat, dimRoundingMode } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (!isFloat4d(dy) || !isFloat4d(filter)) return original(args);
    const g = geometry(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, dataFormat);
    if (g === null || !sameShape(dy.shape, outShape(g))) return original(args);
    const backend = args.backend as tf.KernelBackend;
    const dx = backpropInputValues(valuesOf(backend, dy), valuesOf(backend, filter), g);
    return output(backend, [...inputShape], unpad(dx));
  };
}

/**
 * `Conv2DBackpropFilter` (conv2d's filter gradient): dW with shape `filterShape`
 * [kh, kw, C, O] from x [N, H, W, C] and dy [N, outH, outW, O].
 */
export function makeConv2DBackpropFilter(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs;
    const { filterShape, strides, pad, dataFormat, dimRoundingMode } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (!isFloat4d(x) || !isFloat4d(dy)) return original(args);
    const g = geometry(x.shape, filterShape, strides, 1, pad, dimRoundingMode, dataFormat);
    if (g === null || !sameShape(dy.shape, outShape(g))) return original(args);
    const backend = args.backend as tf.KernelBackend;
    const dW = backpropFilterValues(valuesOf(backend, x), valuesOf(backend, dy), g);
    return output(backend, [...filterShape], unpad(dW));
  };
}
