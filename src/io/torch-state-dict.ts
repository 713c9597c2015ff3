import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { DifflibError, attributeErrors } from '../errors';
import { readSafetensors } from './safetensors-read';
import { writeSafetensors } from './safetensors-write';
import { readTorchCheckpoint } from './torch-checkpoint/read-torch-checkpoint';
import type { TorchStateDict } from './torch-checkpoint/types';
import type { UNet } from '../nn/unet';

/** One PyTorch parameter: its shape and row-major float32 values. */
export interface TorchTensor {
  /** PyTorch shape (e.g. OIHW for a conv weight). */
  shape: number[];
  /** Values in row-major order. */
  data: Float32Array;
}

/** How a tfjs weight corresponds to a PyTorch parameter. */
interface WeightBinding {
  weight: tfl.LayerVariable;
  torchKey: string;
  /** Shape of the PyTorch parameter. */
  torchShape: number[];
  toTfjs: (data: Float32Array) => Float32Array;
  toTorch: (data: Float32Array) => Float32Array;
}

/**
 * Pairs every weight of a U-Net with its improved/guided-diffusion state-dict key.
 * Layers are named after PyTorch module paths; kernels change layout:
 * conv OIHW ↔ HWIO, linear [out, in] ↔ [in, out], 1-D conv [out, in, 1] ↔ [in, out].
 */
function bindings(unet: UNet): WeightBinding[] {
  const out: WeightBinding[] = [];
  for (const layer of unet.model.layers) {
    for (const weight of layer.weights) {
      const kind = weight.originalName.slice(weight.originalName.lastIndexOf('/') + 1);
      const torchKey = `${layer.name}.${kind === 'bias' || kind === 'beta' ? 'bias' : 'weight'}`;
      const shape = weight.shape as number[];
      if (kind === 'kernel' && shape.length === 4) {
        const [kh, kw, cin, cout] = shape as [number, number, number, number];
        out.push({
          weight,
          torchKey,
          torchShape: [cout, cin, kh, kw],
          toTfjs: (d) => permute(d, [cout, cin, kh, kw], [2, 3, 1, 0]),
          toTorch: (d) => permute(d, [kh, kw, cin, cout], [3, 2, 0, 1]),
        });
      } else if (kind === 'kernel') {
        const [cin, cout] = shape as [number, number];
        // qkv and proj_out are 1-D convolutions in PyTorch: [out, in, 1].
        const torchShape = /\.(qkv|proj_out)$/.test(layer.name) ? [cout, cin, 1] : [cout, cin];
        out.push({
          weight,
          torchKey,
          torchShape,
          toTfjs: (d) => permute(d, [cout, cin], [1, 0]),
          toTorch: (d) => permute(d, [cin, cout], [1, 0]),
        });
      } else {
        out.push({ weight, torchKey, torchShape: shape, toTfjs: (d) => d, toTorch: (d) => d });
      }
    }
  }
  return out;
}

/**
 * Loads an improved-diffusion / guided-diffusion `UNetModel` state dict into a U-Net built
 * with the same configuration. The weights may be a safetensors file, a `torch.save`
 * checkpoint (`.pt`, read by {@link readTorchCheckpoint} without running its code; the
 * format is told by its first bytes) or a state dict already read by `readTorchCheckpoint`
 * (e.g. with `{ key: 'ema' }` for a checkpoint holding several). float16, bfloat16 and
 * float64 weights are converted to float32. Every key must be present with the right shape
 * and none may be left over; otherwise a DifflibError lists the missing, unexpected and
 * mis-shaped keys and no weight is changed.
 *
 * @param unet - from {@link createUNet} with the PyTorch model's kwargs.
 * @param weights - the weights: a safetensors or `torch.save` file's bytes, or a
 *   {@link TorchStateDict}.
 *
 * @example
 * ```ts
 * const unet = createUNet(config);
 * loadTorchStateDict(unet, new Uint8Array(await readFile('ema_0.9999_500000.pt'))); // or .safetensors
 * ```
 */
export function loadTorchStateDict(unet: UNet, weights: Uint8Array | ArrayBuffer | TorchStateDict): void {
  const fn = 'loadTorchStateDict';
  const file = readWeightsAs(fn, weights);
  const plan = bindings(unet);
  const missing: string[] = [];
  const misShaped: string[] = [];
  const values: Float32Array[] = [];
  for (const b of plan) {
    const t = file.get(b.torchKey);
    if (!t) {
      missing.push(b.torchKey);
    } else if (!tf.util.arraysEqual(t.shape, b.torchShape)) {
      misShaped.push(`${b.torchKey} (expected [${b.torchShape}], got [${t.shape}])`);
    } else {
      values.push(b.toTfjs(t.data));
    }
  }
  const bound = new Set(plan.map((b) => b.torchKey));
  const unexpected = [...file.keys()].filter((k) => !bound.has(k));
  if (missing.length || unexpected.length || misShaped.length) {
    const parts = [
      missing.length ? `missing keys: ${missing.join(', ')}` : '',
      unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : '',
      misShaped.length ? `mis-shaped keys: ${misShaped.join(', ')}` : '',
    ].filter(Boolean);
    throw new DifflibError('SHAPE_MISMATCH', fn, 'weights', `does not match the U-Net (no weight was changed); ${parts.join('; ')}`);
  }
  plan.forEach((b, i) => {
    const value = tf.tensor(values[i]!, b.weight.shape as number[], 'float32');
    b.weight.write(value);
    value.dispose();
  });
}

/**
 * Writes a U-Net's weights as a safetensors state dict with improved/guided-diffusion
 * key names and PyTorch layouts, loadable by `UNetModel.load_state_dict` (after
 * `safetensors.torch.load_file`). Reads the weights back from the device.
 * Every tensor is F32; kernels are transposed to PyTorch's layouts: conv HWIO
 * [kh, kw, in, out] → OIHW [out, in, kh, kw], dense [in, out] → [out, in], and the
 * attention's `qkv` / `proj_out` [in, out] → 1-D conv [out, in, 1].
 *
 * @param unet - the model.
 * @param metadata - string pairs stored in the file's `__metadata__`.
 * @returns the file's bytes.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * writeFileSync('model.safetensors', exportTorchStateDict(unet, { step: '10000' }));
 * // PyTorch: model.load_state_dict(safetensors.torch.load_file('model.safetensors'))
 * ```
 */
export function exportTorchStateDict(unet: UNet, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const b of bindings(unet)) {
    tensors[b.torchKey] = { dtype: 'F32', shape: b.torchShape, data: b.toTorch(b.weight.read().dataSync() as Float32Array) };
  }
  return writeSafetensors(tensors, metadata);
}

/** The weights by name as float32, from whichever form they were given in. */
function readWeightsAs(fn: string, weights: Uint8Array | ArrayBuffer | TorchStateDict): Map<string, TorchTensor> {
  const arg = 'weights';
  const out = new Map<string, TorchTensor>();
  const add = (name: string, dtype: string, shape: number[], data: unknown): void => {
    if (data instanceof Float32Array) out.set(name, { shape, data });
    else if (data instanceof Float64Array) out.set(name, { shape, data: Float32Array.from(data) });
    else throw new DifflibError('INVALID_ARGUMENT', fn, arg, `holds ${name} as ${dtype}; U-Net weights must be floating point`);
  };
  if (weights instanceof Map) {
    for (const [name, t] of weights) add(name, t.dtype, t.shape, t.data);
  } else if (isTorchSave(weights)) {
    for (const [name, t] of attributeErrors(fn, arg, () => readTorchCheckpoint(weights))) add(name, t.dtype, t.shape, t.data);
  } else {
    for (const [name, t] of attributeErrors(fn, arg, () => readSafetensors(weights)).tensors) add(name, t.dtype, t.shape, t.data);
  }
  return out;
}

/** A zip archive (torch.save since PyTorch 1.6), or a pickle (its legacy format, refused by the reader with advice). */
function isTorchSave(bytes: unknown): bytes is Uint8Array | ArrayBuffer {
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) return false;
  const head = bytes instanceof ArrayBuffer ? new Uint8Array(bytes, 0, Math.min(4, bytes.byteLength)) : bytes;
  return (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) || (head[0] === 0x80 && head[1] === 0x02);
}

/** Row-major transpose of `data` with shape `shape` by axis permutation `perm`. */
function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = strides(shape);
  const outStrides = strides(outShape);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < data.length; o++) {
    let rem = o;
    let src = 0;
    for (let a = 0; a < rank; a++) {
      index[a] = Math.floor(rem / outStrides[a]!);
      rem -= index[a]! * outStrides[a]!;
      src += index[a]! * inStrides[perm[a]!]!;
    }
    out[o] = data[src]!;
  }
  return out;
}

function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}
