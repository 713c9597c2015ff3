/// <reference types="vite/client" />
/**
 * The torch.save fixtures of test/fixtures/torch (made by its make_fixtures.py with
 * PyTorch 1.13), loaded in Node and in the browser alike: Vite resolves the globs in both.
 */
import type { EncodedTensor, RefValue } from '../reference/load';

const files = import.meta.glob<string>('../fixtures/torch/*.pt', { query: '?url', import: 'default' });
const jsons = import.meta.glob<unknown>('../fixtures/torch/*.json', { import: 'default' });

function keyOf(table: Record<string, unknown>, name: string): string {
  const key = Object.keys(table).find((k) => k.endsWith(`/${name}`));
  if (!key) throw new Error(`test/fixtures/torch/${name} not found: run /usr/bin/python3 test/fixtures/torch/make_fixtures.py`);
  return key;
}

/** The bytes of a fixture file (`unet_fp32.pt`, ...). */
export async function torchFixture(name: string): Promise<Uint8Array> {
  const key = keyOf(files, name);
  if (typeof window === 'undefined') {
    // Node: read the file itself (Vite's URL is only servable to a browser).
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(new URL(key, import.meta.url)));
  }
  return new Uint8Array(await (await fetch(await files[key]!())).arrayBuffer());
}

/** A tensor of views.json / dtypes.json: PyTorch's dtype name, its shape, its values made contiguous. */
export interface FixtureTensor {
  dtype: string;
  shape: number[];
  /** int64 values and non-finite floats ('NaN', 'Infinity', '-Infinity') as strings; bool as 0/1. */
  data: Array<number | string>;
}

/** The tensors of views.json or dtypes.json, by name. */
export async function torchFixtureTensors(name: 'views.json' | 'dtypes.json'): Promise<Record<string, FixtureTensor>> {
  return ((await jsons[keyOf(jsons, name)]!()) as { tensors: Record<string, FixtureTensor> }).tensors;
}

/** unet_small.json: the U-Net's kwargs, parameter count, input and PyTorch's output for each weights file. */
export interface TorchUNetCase {
  config: { constructor_kwargs: Record<string, RefValue> };
  num_parameters: number;
  inputs: { x: EncodedTensor; timesteps: EncodedTensor };
  outputs: Record<string, EncodedTensor>;
}

export async function torchUNetCase(): Promise<TorchUNetCase> {
  return (await jsons[keyOf(jsons, 'unet_small.json')]!()) as TorchUNetCase;
}
