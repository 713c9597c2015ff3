import * as tf from '@tensorflow/tfjs-core';
import { GroupNormalization } from './layers/group-normalization';
import { NearestUpsampling2D } from './layers/nearest-upsampling';
import { QKVAttention } from './layers/qkv-attention';
import { TimeConditioning } from './layers/time-conditioning';
import { TimestepEmbeddingLayer } from './layers/timestep-embedding-layer';

/** The custom layers a {@link createUNet} model is made of. */
const UNET_LAYERS = [GroupNormalization, NearestUpsampling2D, QKVAttention, TimeConditioning, TimestepEmbeddingLayer];

/**
 * Registers the U-Net's custom layers (`GroupNormalization`, `NearestUpsampling2D`,
 * `QKVAttention`, `TimeConditioning`, `TimestepEmbeddingLayer`) with
 * `tf.serialization`, so that tfjs-layers can rebuild a saved U-Net
 * (`tf.loadLayersModel`, `tfl.models.modelFromJSON`). Without it loading fails with
 * `Unknown layer: DifflibGroupNormalization` (or another `Difflib…` class name).
 *
 * Importing difflib registers them once, and package.json's `sideEffects` keeps that
 * call in bundles; but a bundler may still drop an import it considers unused, so
 * {@link loadUNetModel} and {@link createUNet} call this themselves. Call it before
 * loading a saved model with tfjs directly. Idempotent: calling again registers the
 * same classes under the same names. Makes no tensor.
 *
 * @returns the registered class names, e.g. `'DifflibGroupNormalization'`.
 *
 * @example
 * ```ts
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { registerUNetLayers } from 'difflib';
 *
 * registerUNetLayers();
 * const model = await tfl.loadLayersModel('indexeddb://unet');
 * ```
 */
export function registerUNetLayers(): string[] {
  return UNET_LAYERS.map((cls) => {
    tf.serialization.registerClass(cls);
    return cls.className;
  });
}

// `import 'difflib'` then `tf.loadLayersModel(...)` keeps working, as it always has.
registerUNetLayers();
