// What a torch.save pickle may name and call: an allow-list of globals, each given the
// meaning PyTorch gives it (a storage type, an OrderedDict, a tensor view of a storage),
// computed here without importing or running anything. Any other global is refused by
// name, at the GLOBAL opcode, before the pickle can use it.
import { PyDict, PyGlobal, PyTuple, describePython } from './python-values';
import type { TorchDtype } from './types';
import type { UnpickleHooks } from './unpickler';
import type { Fail, ZipArchive } from './zip-archive';

/** The legacy storage classes torch.save names for each dtype, and its element size. @internal */
export const STORAGE_TYPES: Record<string, { dtype: TorchDtype; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const REBUILD_PARAMETER_WITH_STATE = 'torch._utils._rebuild_parameter_with_state';
const ORDERED_DICT = 'collections.OrderedDict';

/** Every global a pickle may name. @internal */
export const ALLOWED_GLOBALS: readonly string[] = [
  ORDERED_DICT,
  REBUILD_TENSOR,
  REBUILD_PARAMETER,
  REBUILD_PARAMETER_WITH_STATE,
  ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`),
];

/** One storage record of the archive (`<prefix>/data/<key>`), not yet read. @internal */
export class StorageRef {
  constructor(
    readonly record: string,
    readonly dtype: TorchDtype,
    readonly numel: number,
  ) {}

  describe(): string {
    return `${this.dtype} storage`;
  }
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage. @internal */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  describe(): string {
    return `${this.storage.dtype} tensor [${this.shape.join(', ')}]`;
  }
}

/**
 * The hooks that let a torch.save pickle build state dicts: the allow-list above, storage
 * records of `archive` under `prefix` (e.g. `archive/`) for BINPERSID.
 * @internal
 */
export function torchPickleHooks(archive: ZipArchive, prefix: string, fail: Fail): UnpickleHooks {
  const globals = new Map<string, PyGlobal>();
  const storages = new Map<string, StorageRef>();
  const refuse = (detail: string): never => {
    throw fail(detail);
  };

  return {
    global(module, name) {
      // Python 3 reads protocol-2 pickles' `__builtin__` as `builtins` (fix_imports).
      const qualified = `${module === '__builtin__' ? 'builtins' : module}.${name}`;
      if (!ALLOWED_GLOBALS.includes(qualified)) {
        if (module === 'torch' && name.endsWith('Storage')) {
          throw fail(`holds a tensor of storage type torch.${name}, which readTorchCheckpoint does not read (it reads ${Object.keys(STORAGE_TYPES).join(', ')})`, 'UNKNOWN_OPTION');
        }
        throw fail(
          `names the Python global ${qualified}, which readTorchCheckpoint refuses: it reads state dicts and runs no code ` +
            `(a pickle may only name ${ALLOWED_GLOBALS.join(', ')}); save the model's state_dict() instead`,
        );
      }
      let g = globals.get(qualified);
      if (!g) globals.set(qualified, (g = new PyGlobal(module, name)));
      return g;
    },

    persistentLoad(pid) {
      // torch.save's persistent id: ('storage', torch.FloatStorage, key, location, numel).
      const items = pid instanceof PyTuple ? pid.items : [];
      const [tag, type, key, location, numel] = items;
      const storageName = type instanceof PyGlobal && type.module === 'torch' ? type.name : '';
      const info = Object.hasOwn(STORAGE_TYPES, storageName) ? STORAGE_TYPES[storageName] : undefined;
      if (items.length !== 5 || tag !== 'storage' || !info || typeof key !== 'string' || typeof location !== 'string' || !isCount(numel)) {
        return refuse(`has a persistent id that is not a torch storage reference ('storage', type, key, location, numel): got a ${describePython(pid)}`);
      }
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== info.dtype || known.numel !== numel) refuse(`refers to storage "${key}" twice with different types or sizes`);
        return known;
      }
      const record = `${prefix}data/${key}`;
      const size = archive.size(record);
      if (size === undefined) return refuse(`refers to storage record "${record}", which the archive lacks`);
      if (size !== numel * info.bytes) {
        return refuse(`has storage record "${record}" of ${size} bytes, but its reference says ${numel} ${info.dtype} elements (${numel * info.bytes} bytes)`);
      }
      const storage = new StorageRef(record, info.dtype, numel);
      storages.set(key, storage);
      return storage;
    },

    reduce(callable, args) {
      const name = callable instanceof PyGlobal ? callable.qualifiedName : '';
      const a = args.items;
      switch (name) {
        case ORDERED_DICT:
          if (a.length) refuse(`calls collections.OrderedDict with ${a.length} arguments; torch.save pickles it with none`);
          return new PyDict(true);
        case REBUILD_TENSOR:
          return rebuildTensorV2(a, refuse);
        case REBUILD_PARAMETER:
        case REBUILD_PARAMETER_WITH_STATE:
          // (data, requires_grad, backward_hooks[, state]): the state holds Python attributes, not values.
          if (a.length !== (name === REBUILD_PARAMETER ? 3 : 4) || !(a[0] instanceof TensorRef)) {
            refuse(`calls ${name} with ${describePython(args)} instead of (tensor, requires_grad, hooks${name === REBUILD_PARAMETER ? '' : ', state'})`);
          }
          return a[0];
        default:
          return refuse(`calls ${name || `a ${describePython(callable)}`}, which readTorchCheckpoint does not call`);
      }
    },

    build(target, state) {
      // An OrderedDict's BUILD sets attributes: state_dict()'s `_metadata` (module versions), ignored.
      if (!(target instanceof PyDict && target.ordered && state instanceof PyDict)) {
        refuse(`sets the state of a ${describePython(target)} from a ${describePython(state)}; only an OrderedDict's attributes may be set`);
      }
    },
  };
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
function rebuildTensorV2(a: readonly unknown[], refuse: (detail: string) => never): TensorRef {
  const [storage, offset, size, stride, , , metadata] = a;
  const shape = size instanceof PyTuple ? size.items : undefined;
  const strides = stride instanceof PyTuple ? stride.items : undefined;
  if (
    (a.length !== 6 && a.length !== 7) ||
    !(storage instanceof StorageRef) ||
    !isCount(offset) ||
    !shape?.every(isCount) ||
    !strides?.every(isCount) ||
    shape.length !== strides.length
  ) {
    return refuse(`calls ${REBUILD_TENSOR} with arguments other than (storage, offset, size, stride, requires_grad, hooks): ${describePython(new PyTuple(a))}`);
  }
  // torch >= 2.1 appends a dict of tensor metadata when there is any (it has none for a plain tensor).
  if (a.length === 7 && !(metadata === null || (metadata instanceof PyDict && metadata.entries.size === 0))) {
    refuse(`holds a tensor with metadata (${describePython(metadata)}) that readTorchCheckpoint cannot apply`);
  }
  const dims = shape as number[];
  const steps = strides as number[];
  // The view's last element must lie inside the storage (a tensor with no elements touches none).
  if (!dims.includes(0)) {
    let last = offset as number;
    for (let d = 0; d < dims.length; d++) {
      const reach = (dims[d]! - 1) * steps[d]!;
      if (reach >= storage.numel) last = Infinity;
      last += reach;
    }
    if (!(last < storage.numel)) {
      refuse(`has a tensor [${dims.join(', ')}] (offset ${offset as number}, stride [${steps.join(', ')}]) reaching past its ${storage.numel}-element storage ${storage.record}`);
    }
  }
  return new TensorRef(storage, offset as number, [...dims], [...steps]);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
