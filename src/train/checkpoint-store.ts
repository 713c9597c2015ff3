/** One float32 tensor of a checkpoint, on the host. */
export interface CheckpointTensor {
  /** Its dimensions. */
  shape: number[];
  /** Its elements, row-major. */
  data: Float32Array;
}

/**
 * Everything a checkpoint holds: named float32 tensors (weights, EMA weights,
 * optimizer moments) and a JSON-serialisable state (step, options, sampler history).
 */
export interface Checkpoint {
  /** The tensors by name. */
  tensors: Map<string, CheckpointTensor>;
  /** Plain JSON data: numbers, strings, booleans, null, arrays and objects of them. */
  state: Record<string, unknown>;
}

/**
 * Where checkpoints go: {@link DirectoryCheckpointStore} (Node, a directory) or
 * {@link IOHandlerCheckpointStore} (any tfjs IO handler: IndexedDB in a browser, an
 * in-memory handler, ...). Implement it to store checkpoints elsewhere.
 * A `write` must be all-or-nothing: after a failed write, `read` still returns the
 * previous checkpoint.
 */
export interface CheckpointStore {
  /** Stores the checkpoint, replacing the previous one. */
  write(checkpoint: Checkpoint): Promise<void>;
  /** The checkpoint last written. */
  read(): Promise<Checkpoint>;
}
