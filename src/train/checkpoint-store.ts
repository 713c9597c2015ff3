/** One float32 tensor of a checkpoint, on the host. */
export interface CheckpointTensor {
  /** Its dimensions. */
  shape: number[];
  /** Its elements, row-major. */
  data: Float32Array;
}

/**
 * Where a checkpoint was read from, as a store describes it: a refused checkpoint's
 * error names the file (or record) at fault.
 */
export interface CheckpointOrigin {
  /** Where the tensors came from, e.g. `runs/a/step-00000010-Ab12Cd/tensors.safetensors`. */
  tensors: string;
  /** Where the state came from, e.g. `runs/a/step-00000010-Ab12Cd/state.json`. */
  state: string;
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
  /** Set by {@link CheckpointStore.read}, for error messages; not written. */
  origin?: CheckpointOrigin;
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
  /**
   * The checkpoint last written. A missing or damaged one should be refused with a
   * DifflibError naming where it was read from and what is wrong.
   */
  read(): Promise<Checkpoint>;
}
