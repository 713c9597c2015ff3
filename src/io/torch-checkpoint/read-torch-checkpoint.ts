import { DifflibError, describeValue, type DifflibErrorCode } from '../../errors';
import { checkZipMagic, torchArchivePrefix } from './archive-layout';
import { selectStateDict } from './state-dict-select';
import { elementCount, rebuildTensor } from './tensor-rebuild';
import { torchPickleHooks } from './torch-globals';
import type { ReadTorchCheckpointOptions, TorchStateDict } from './types';
import { unpickle } from './unpickler';
import { readZipArchive, type Fail } from './zip-archive';

/**
 * Reads the state dict of a PyTorch checkpoint written by `torch.save` (the zip format,
 * PyTorch's default since 1.6), such as improved-diffusion's `ema_0.9999_500000.pt`,
 * **without running any of its code**. A `.pt` file is a zip archive of a pickle
 * (`<name>/data.pkl`) and one raw record per tensor storage (`<name>/data/<key>`); unpickling
 * it in Python can run arbitrary code. This reader is a restricted unpickler instead: it
 * knows the opcodes `torch.save` uses for dicts of tensors (pickle protocol 2, and 4) and
 * allows only these globals, interpreting each itself:
 *
 * ```text
 * collections.OrderedDict                      the state dict (and its `_metadata`, ignored)
 * torch._utils._rebuild_tensor_v2              a strided view of a storage: offset, size, stride
 * torch._utils._rebuild_parameter              an nn.Parameter: its tensor
 * torch._utils._rebuild_parameter_with_state   the same, with Python attributes (ignored)
 * torch.FloatStorage, HalfStorage, BFloat16Storage, DoubleStorage, LongStorage, IntStorage,
 * ByteStorage, BoolStorage                     storage types: float32 ... bool
 * ```
 *
 * Any other global (`os.system`, `builtins.eval`, `builtins.getattr`, a model class, ...)
 * is refused by name before it is used. Views are rebuilt into contiguous row-major data:
 * transposes, slices with an offset, several tensors sharing one storage.
 *
 * The pickled object must be a state dict (a dict of tensors by name, as
 * `model.state_dict()` gives), or a dict holding one under `options.key` or, without it,
 * under exactly one of `state_dict`, `model_state_dict`, `model`, `ema` and `module`
 * (training checkpoints: `{ state_dict, optimizer, epoch }`); the other entries may hold
 * numbers, strings, lists and tensors but no other globals.
 *
 * Refused with a message saying what the file is and how to convert it: the legacy format
 * (`_use_new_zipfile_serialization=False`, PyTorch < 1.6), TorchScript archives
 * (`torch.jit.save`), safetensors files (use `readSafetensors`), compressed records (a
 * re-zipped file), big-endian files (a `byteorder` record of `"big"`). Malformed files
 * (truncated, lying sizes or offsets, a CRC-32 mismatch, a broken pickle) are refused
 * before anything is allocated for them: every length is bounded by the bytes present, and
 * the tensors together may hold at most one element per byte of the file (views that
 * overlap more than that, e.g. large stride-0 expansions, are refused).
 *
 * @param bytes - the whole file: a `Uint8Array` (a Node `Buffer` is one) or an
 *   `ArrayBuffer` (e.g. `await (await fetch(url)).arrayBuffer()`).
 * @param options - `key`: the top-level key holding the state dict.
 * @returns the state dict, in the pickle's order. float16 and bfloat16 are widened to
 *   float32 exactly, int64 is a `BigInt64Array`. A contiguous tensor whose record is aligned
 *   (torch.save aligns records to 64 bytes) is a view of `bytes`, not a copy.
 * @throws DifflibError with argument `bytes` for a file that is not a readable `torch.save`
 *   state dict (`UNKNOWN_OPTION` for a storage type other than those above, `UNSATISFIABLE`
 *   when several wrapper keys hold state dicts), with argument `options.key` for a `key`
 *   that names no state dict.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const stateDict = readTorchCheckpoint(readFileSync('ema_0.9999_500000.pt'));
 * const w = stateDict.get('input_blocks.0.0.weight')!; // { dtype: 'float32', shape: [128, 3, 3, 3], data: Float32Array }
 * const kernel = tf.tensor(w.data as Float32Array, w.shape);
 * ```
 */
export function readTorchCheckpoint(bytes: Uint8Array | ArrayBuffer, options: ReadTorchCheckpointOptions = {}): TorchStateDict {
  const fn = 'readTorchCheckpoint';
  const fail: Fail = (detail: string, code: DifflibErrorCode = 'INVALID_ARGUMENT') => new DifflibError(code, fn, 'bytes', detail);
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    throw fail(`must be a Uint8Array (or Node Buffer) or an ArrayBuffer holding a torch.save file, got ${describeValue(bytes)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an object, got ${describeValue(options)}`);
  }
  if (options.key !== undefined && typeof options.key !== 'string') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.key', `must be a string, got ${describeValue(options.key)}`);
  }
  const file = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  checkZipMagic(file, fail);
  const archive = readZipArchive(file, fail);
  const prefix = torchArchivePrefix(archive, fail);
  const root = unpickle(archive.read(`${prefix}data.pkl`)!, torchPickleHooks(archive, prefix, fail), fail);
  const failKey: Fail = (detail, code = 'INVALID_ARGUMENT') => new DifflibError(code, fn, 'options.key', detail);
  const entries = selectStateDict(root, options.key, fail, failKey);

  let elements = 0;
  for (const [name, tensor] of entries) {
    elements += elementCount(tensor.shape);
    if (!(elements <= file.length)) {
      throw fail(`has tensors holding more elements in all (at "${name}", ${tensor.describe()}) than the file has bytes: views overlap too much to be copied out`);
    }
  }
  const stateDict: TorchStateDict = new Map();
  for (const [name, tensor] of entries) stateDict.set(name, rebuildTensor(tensor, archive, fail));
  return stateDict;
}
