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

  /**
   * Loads the checkpoint through the handler's `load`. Artifacts that are not a
   * checkpoint, or whose weight specs, weight data or state are damaged, are refused
   * with a DifflibError naming the target, the part at fault and what is wrong.
   */
  async read(): Promise<Checkpoint> {
    const fn = 'IOHandlerCheckpointStore.read';
    const handler = this.handler(fn, 'load');
    const label = this.label();
    const target = typeof this.target === 'string' ? label : `(${label})`;
    const damaged = (part: string, what: string) =>
      new DifflibError('INVALID_ARGUMENT', fn, 'target', `${target} holds a damaged checkpoint: ${part} ${what}`);
    let artifacts: tf.io.ModelArtifacts;
    try {
      artifacts = await handler.load!();
    } catch (e) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `${target} could not be loaded (${String(e)})`);
    }
    if (artifacts === null || typeof artifacts !== 'object' || artifacts.format !== FORMAT) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `${target} does not hold a difflib checkpoint (format ${describeValue(artifacts?.format)})`);
    }
    const state = artifacts.userDefinedMetadata?.['state'];
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw damaged('userDefinedMetadata.state', `is ${describeValue(state)}, not a JSON object`);
    }
    const specs: unknown = artifacts.weightSpecs;
    if (!Array.isArray(specs)) throw damaged('weightSpecs', `is ${describeValue(specs)}, not an array`);
    if (!artifacts.weightData) throw damaged('weightData', 'is missing');
    const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const tensors = new Map<string, CheckpointTensor>();
    let offset = 0;
    specs.forEach((spec: Partial<tf.io.WeightsManifestEntry> | null, i) => {
      const where = `weightSpecs[${i}]`;
      if (spec === null || typeof spec !== 'object' || typeof spec.name !== 'string' || tensors.has(spec.name)) {
        throw damaged(where, `is ${describeValue(spec)}; expected { name, shape, dtype } with a name not used before`);
      }
      const { name, shape } = spec;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw damaged(where, `("${name}") has shape ${describeValue(shape)}; expected an array of non-negative integers`);
      }
      if (spec.dtype !== 'float32' || spec.quantization) {
        throw damaged(where, `("${name}") is ${spec.quantization ? 'quantized ' : ''}${describeValue(spec.dtype)}; checkpoints are float32`);
      }
      const bytes = 4 * shape.reduce((n, d) => n * d, 1);
      if (offset + bytes > data.byteLength) {
        throw damaged('weightData', `holds ${data.byteLength} bytes, too few for weight "${name}" (bytes ${offset}..${offset + bytes}): truncated`);
      }
      tensors.set(name, { shape, data: new Float32Array(data.slice(offset, offset + bytes)) });
      offset += bytes;
    });
    if (offset !== data.byteLength) {
      throw damaged('weightData', `holds ${data.byteLength} bytes but weightSpecs describe ${offset}`);
    }
    return {
      tensors,
      state: state as Record<string, unknown>,
      origin: { tensors: `weightData of ${label}`, state: `userDefinedMetadata.state of ${label}` },
    };
  }

  /** The target for messages: `"indexeddb://run"`, or `a PassthroughLoader` for a handler. */
  private label(): string {
    return typeof this.target === 'string' ? `"${this.target}"` : describeValue(this.target);
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
