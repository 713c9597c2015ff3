import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DifflibError, describeValue } from '../errors';
import { registerUNetLayers } from './register-unet-layers';

const FN = 'loadUNetModel';

/**
 * Loads a U-Net saved with `unet.model.save(...)` (tfjs-layers model artifacts):
 * {@link registerUNetLayers}, then `tfl.loadLayersModel(source, options)`. Use it
 * instead of `tf.loadLayersModel`: it works even where a bundler dropped difflib's
 * import-time registration, because it registers the layers itself.
 *
 * The model takes `[x [B, S, S, C], t [B, 1] float32]` (plus `y [B, 1]` int32 for a
 * class-conditional model) and returns `[B, S, S, outChannels]`, bit for bit what the
 * saved model returned. To get a {@link UNet} with `forward` instead, build it with
 * {@link createUNet} and load weights into it (a Trainer checkpoint, or
 * {@link loadTorchStateDict}).
 *
 * Bad arguments reject with a DifflibError before anything is read; errors from
 * reading or parsing the artifacts are tfjs's own. Makes no tensor but the returned
 * model's weights (free them with `model.dispose()`).
 *
 * @param source - a tfjs URL (`'indexeddb://unet'`, `'https://…/model.json'`, a path
 *   relative to the page, `'file://…'` with tfjs-node) or an IOHandler with `load()`
 *   (`tf.io.fromMemory(artifacts)`, `tf.io.browserFiles([json, weights])`).
 * @param options - passed on to `tfl.loadLayersModel` (e.g. `requestInit`, `weightUrlConverter`).
 * @returns the loaded `LayersModel`.
 *
 * @example
 * ```ts
 * await unet.model.save('indexeddb://unet');
 * // later, perhaps in another app:
 * const model = await loadUNetModel('indexeddb://unet');
 * const eps = model.predict([x, tf.tensor2d([[500]])]) as tf.Tensor4D;
 * ```
 */
export async function loadUNetModel(source: string | tf.io.IOHandler, options?: tf.io.LoadOptions): Promise<tfl.LayersModel> {
  if (typeof source === 'string' ? source.length === 0 : typeof (source as tf.io.IOHandler | null)?.load !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', FN, 'source', `must be a non-empty tfjs URL or an IOHandler with load(), got ${describeValue(source)}`);
  }
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new DifflibError('INVALID_ARGUMENT', FN, 'options', `must be a tfjs LoadOptions object, got ${describeValue(options)}`);
  }
  registerUNetLayers();
  return tfl.loadLayersModel(source, options);
}
