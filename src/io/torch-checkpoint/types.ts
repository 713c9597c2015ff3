// The state dict readTorchCheckpoint returns.

/**
 * The typed array that holds each PyTorch dtype `readTorchCheckpoint` reads. Half-precision
 * floats (`float16`, `bfloat16`) widen to float32 exactly; `int64` is a `BigInt64Array`
 * (exact: no value is refused or rounded; `Number(v)` converts one); `bool` is one byte per
 * element, 0 or 1.
 */
export interface TorchCheckpointArrays {
  /** `torch.float32` (`FloatStorage`), the usual dtype of weights. */
  float32: Float32Array;
  /** `torch.float16` (`HalfStorage`), held as float32. */
  float16: Float32Array;
  /** `torch.bfloat16` (`BFloat16Storage`), held as float32. */
  bfloat16: Float32Array;
  /** `torch.float64` (`DoubleStorage`). */
  float64: Float64Array;
  /** `torch.int64` (`LongStorage`), e.g. BatchNorm's `num_batches_tracked`. */
  int64: BigInt64Array;
  /** `torch.int32` (`IntStorage`). */
  int32: Int32Array;
  /** `torch.uint8` (`ByteStorage`). */
  uint8: Uint8Array;
  /** `torch.bool` (`BoolStorage`), 0 or 1 per element. */
  bool: Uint8Array;
}

/** The PyTorch dtypes `readTorchCheckpoint` reads, named as `torch.<dtype>`. */
export type TorchDtype = keyof TorchCheckpointArrays;

/**
 * One tensor of a `torch.save` state dict: its dtype as PyTorch names it, its shape
 * (e.g. `[out, in, kh, kw]` for a convolution kernel) and its elements, row-major and
 * contiguous whatever the stored tensor's strides were.
 */
export type TorchCheckpointTensor = {
  [D in TorchDtype]: {
    /** The dtype of the stored tensor. */
    dtype: D;
    /** The dimensions; `[]` is a 0-d tensor (one element). */
    shape: number[];
    /** The elements in row-major order; length is the product of `shape`. */
    data: TorchCheckpointArrays[D];
  };
}[TorchDtype];

/**
 * A state dict: parameter and buffer names (`input_blocks.0.0.weight`, ...) to tensors, in
 * the order of the pickled dict (the order of `model.state_dict()`). Read a shape with
 * `stateDict.get(name)?.shape`.
 */
export type TorchStateDict = Map<string, TorchCheckpointTensor>;

/** Options of `readTorchCheckpoint`. */
export interface ReadTorchCheckpointOptions {
  /**
   * The top-level key of the dict that holds the state dict, for a checkpoint holding
   * more than one (e.g. `'ema'` of `{ model, ema, optimizer }`). Without it a wrapper key
   * is recognised only when exactly one of `state_dict`, `model_state_dict`, `model`,
   * `ema` and `module` holds a state dict.
   */
  key?: string;
}
