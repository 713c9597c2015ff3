import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import type { Checkpoint, CheckpointStore, CheckpointTensor } from './checkpoint-store';

/** The `format` of the model artifacts a checkpoint is stored as. */
const FORMAT = 'difflib-trainer-checkpoint';

/**
 * Stores checkpoints through a tfjs IO handler: the tensors as the artifacts'
 * `weightSpecs`/`weightData` (float32), the JSON state in `userDefinedMetadata`.
 * In a browser, `'indexeddb://name'` keeps the checkpoint in IndexedDB, which replaces
 * the stored record only once the whole new one is written. Any handler with `save`
 * (to write) or `load` (to read) works, e.g. `tf.io.withSaveHandler` and
 * `tf.io.fromMemory`.
 *
 * @example
 * ```ts
 * await trainer.save(new IOHandlerCheckpointStore('indexeddb://my-run'));
 * await trainer.restore(new IOHandlerCheckpointStore('indexeddb://my-run'));
 * ```
 */
export class IOHandlerCheckpointStore implements CheckpointStore {
  private readonly target: string | tf.io.IOHandler;

  /** @param target - a tfjs URL such as `'indexeddb://name'`, or an IOHandler. */
  constructor(target: string | tf.io.IOHandler) {
    if (typeof target !== 'string' && (target === null || typeof target !== 'object')) {
      throw new DifflibError('INVALID_ARGUMENT', 'IOHandlerCheckpointStore', 'target', `must be a tfjs URL or an IOHandler, got ${describeValue(target)}`);
    }
    this.target = target;
  }

  /** Saves the checkpoint as model artifacts through the handler's `save`. */
  async write(checkpoint: Checkpoint): Promise<void> {
    const fn = 'IOHandlerCheckpointStore.write';
    const handler = this.handler(fn, 'save');
    const weightSpecs: tf.io.WeightsManifestEntry[] = [];
    let bytes = 0;
    for (const [name, t] of checkpoint.tensors) {
      weightSpecs.push({ name, shape: t.shape, dtype: 'float32' });
      bytes += t.data.byteLength;
    }
    const weightData = new Uint8Array(bytes);
    let offset = 0;
    for (const t of checkpoint.tensors.values()) {
      weightData.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
      offset += t.data.byteLength;
    }
    const result = await handler.save!({
      modelTopology: { format: FORMAT },
      format: FORMAT,
      generatedBy: 'difflib',
      weightSpecs,
      weightData: weightData.buffer,
      userDefinedMetadata: { state: checkpoint.state },
    });
    if (result.errors?.length) {
      throw new DifflibError('UNSATISFIABLE', fn, 'target', `could not save the checkpoint: ${result.errors.join('; ')}`);
    }
  }

  /** Loads the checkpoint through the handler's `load`. */
  async read(): Promise<Checkpoint> {
    const fn = 'IOHandlerCheckpointStore.read';
    const artifacts = await this.handler(fn, 'load').load!();
    const state = artifacts.userDefinedMetadata?.['state'];
    if (artifacts.format !== FORMAT || state === null || typeof state !== 'object' || !artifacts.weightSpecs || !artifacts.weightData) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `does not hold a difflib checkpoint (format ${describeValue(artifacts.format)})`);
    }
    const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const tensors = new Map<string, CheckpointTensor>();
    let offset = 0;
    for (const spec of artifacts.weightSpecs) {
      const count = spec.shape.reduce((n, d) => n * d, 1);
      if (spec.dtype !== 'float32' || spec.quantization || offset + 4 * count > data.byteLength) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `holds weight "${spec.name}" that is not ${count} float32 values within the data`);
      }
      tensors.set(spec.name, { shape: spec.shape, data: new Float32Array(data.slice(offset, offset + 4 * count)) });
      offset += 4 * count;
    }
    return { tensors, state: state as Record<string, unknown> };
  }

  private handler(fn: string, method: 'save' | 'load'): tf.io.IOHandler {
    if (typeof this.target !== 'string') {
      if (typeof this.target[method] !== 'function') {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `is an IOHandler without ${method}()`);
      }
      return this.target;
    }
    const handlers = method === 'save' ? tf.io.getSaveHandlers(this.target) : tf.io.getLoadHandlers(this.target);
    if (handlers.length === 0) {
      throw new DifflibError('UNKNOWN_OPTION', fn, 'target', `"${this.target}" matches no registered tfjs IO handler (e.g. indexeddb:// in a browser)`);
    }
    return handlers[0]!;
  }
}
