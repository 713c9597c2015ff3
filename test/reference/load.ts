/// <reference types="vite/client" />
/**
 * Loads the golden cases generated from openai/improved-diffusion
 * (`test/fixtures/reference`, the repository's copy of the shared reference; see its
 * SCHEMA.md and README.md) in Node and in the browser alike: Vite resolves the glob in both.
 */

/** A tensor as the reference stores it: row-major data, NCHW for images. */
export interface EncodedTensor {
  dtype: 'float64' | 'float32' | 'int64';
  shape: number[];
  data: Array<number | string>;
}

export type RefValue = EncodedTensor | number | boolean | string | null | RefValue[] | { [k: string]: RefValue };

export interface RefCase {
  name: string;
  function: string;
  description: string;
  config?: Record<string, RefValue>;
  inputs: Record<string, RefValue>;
  outputs: Record<string, RefValue>;
  outputs_f64?: Record<string, RefValue>;
  expect_error?: { call: string; type: string; message?: string; reason?: string };
}

export interface RefFile {
  schema_version: number;
  group: string;
  cases: RefCase[];
}

const files = import.meta.glob<RefFile>(['../fixtures/reference/*.json', '!**/unet_*.json'], { import: 'default' });

const unetFiles = import.meta.glob<RefFile>('../fixtures/reference/unet_*.json', { import: 'default' });
const weightUrls = import.meta.glob<string>('../fixtures/reference/*.safetensors', { query: '?url', import: 'default' });

/** A U-Net case (`improved`, `guided_ssn`) and the bytes of its safetensors weights. */
export async function loadUNetCase(tag: string): Promise<{ case: RefCase & Record<string, RefValue>; weights: Uint8Array }> {
  const key = Object.keys(unetFiles).find((k) => k.endsWith(`/unet_${tag}.json`));
  if (!key) throw new Error(`reference U-Net case "${tag}" not found in test/fixtures/reference`);
  const file = await unetFiles[key]!();
  const c = file.cases[0] as RefCase & Record<string, RefValue>;
  const weightsKey = key.replace(/[^/]*$/, String(c.weights_file));
  if (!weightUrls[weightsKey]) throw new Error(`weights file ${String(c.weights_file)} not found`);
  let bytes: Uint8Array;
  if (typeof window === 'undefined') {
    // Node: read the file itself (Vite's URL is only servable to a browser).
    const { readFile } = await import('node:fs/promises');
    bytes = new Uint8Array(await readFile(new URL(weightsKey, import.meta.url)));
  } else {
    bytes = new Uint8Array(await (await fetch(await weightUrls[weightsKey]!())).arrayBuffer());
  }
  return { case: c, weights: bytes };
}

/** The cases of one group (`q_functions`, `training_losses`, ...). */
export async function loadGroup(group: string): Promise<RefCase[]> {
  const key = Object.keys(files).find((k) => k.endsWith(`/${group}.json`));
  if (!key) {
    throw new Error(`reference group "${group}" not found: is test/fixtures/reference complete?`);
  }
  const file = await files[key]!();
  if (file.schema_version !== 1) throw new Error(`${group}.json: unsupported schema_version ${file.schema_version}`);
  return file.cases;
}

/** All group names present (for a check that none is forgotten). */
export function availableGroups(): string[] {
  return Object.keys(files).map((k) => k.replace(/^.*\//, '').replace(/\.json$/, ''));
}

export function isTensor(v: RefValue | undefined): v is EncodedTensor {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'dtype' in v && 'shape' in v && 'data' in v;
}

/** Decodes the flat data, mapping the non-finite markers to numbers. */
export function values(v: RefValue | undefined): Float64Array {
  if (!isTensor(v)) throw new Error(`expected an encoded tensor, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return Float64Array.from(v.data, (d) => (typeof d === 'number' ? d : Number(d === 'NaN' ? NaN : d === 'Infinity' ? Infinity : -Infinity)));
}

/**
 * Moves the channel axis to the end (NCHW → NHWC), the layout difflib uses.
 * `channelAxis` is 1 for [B, C, ...] and 2 for the per-step stacks [T, B, C, ...].
 * Tensors of rank ≤ channelAxis + 1 are returned as they are.
 */
export function channelsLast(v: RefValue | undefined, channelAxis = 1): { shape: number[]; data: Float64Array } {
  if (!isTensor(v)) throw new Error('expected an encoded tensor');
  const data = values(v);
  const shape = v.shape;
  if (shape.length <= channelAxis + 1) return { shape: [...shape], data };
  const outer = shape.slice(0, channelAxis).reduce((a, b) => a * b, 1);
  const channels = shape[channelAxis]!;
  const inner = shape.slice(channelAxis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(data.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < inner; i++) {
        out[(o * inner + i) * channels + c] = data[(o * channels + c) * inner + i]!;
      }
    }
  }
  return { shape: [...shape.slice(0, channelAxis), ...shape.slice(channelAxis + 1), channels], data: out };
}
