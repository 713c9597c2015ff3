// Which dict of the unpickled object is the state dict: the object itself, or the value of
// a recognised wrapper key of a training checkpoint ({"state_dict": ..., "optimizer": ...}).
import { PyDict, describePython } from './python-values';
import { TensorRef } from './torch-globals';
import type { Fail } from './zip-archive';

/**
 * Top-level keys under which checkpoints commonly keep a state dict: PyTorch Lightning and
 * many scripts (`state_dict`), PyTorch's checkpoint recipe (`model_state_dict`), DETR-style
 * and diffusion trainers (`model`, `ema`), DeepSpeed (`module`).
 * @internal
 */
export const WRAPPER_KEYS: readonly string[] = ['state_dict', 'model_state_dict', 'model', 'ema', 'module'];

const LISTED_KEYS = 20;

/**
 * The state dict's entries. `key` picks the wrapper key; without it the object must be a
 * state dict or hold one under exactly one of `WRAPPER_KEYS`.
 * @internal
 */
export function selectStateDict(root: unknown, key: string | undefined, fail: Fail, failKey: Fail): Array<[string, TensorRef]> {
  if (key !== undefined) {
    if (!(root instanceof PyDict)) throw failKey(`is "${key}", but the checkpoint holds a ${describePython(root)}, not a dict`);
    if (!root.entries.has(key)) throw failKey(`is "${key}", which is not a top-level key of the checkpoint; its keys: ${listKeys(root)}`);
    const value = root.entries.get(key);
    if (!isStateDict(value)) throw failKey(`is "${key}", whose value is a ${describeEntry(value)}, not a dict of tensors by name`);
    return entries(value);
  }
  if (isStateDict(root)) return entries(root);
  if (!(root instanceof PyDict)) throw fail(`holds a ${describePython(root)}, not a state dict (a dict of tensors by name)`);
  const found = WRAPPER_KEYS.filter((k) => isStateDict(root.entries.get(k)));
  if (found.length === 1) return entries(root.entries.get(found[0]) as PyDict);
  if (found.length > 1) {
    throw fail(`holds state dicts under ${found.join(' and ')}: choose one with readTorchCheckpoint(bytes, { key: '${found[0]}' })`, 'UNSATISFIABLE');
  }
  throw fail(
    `holds a dict that is not a state dict (a dict of tensors by name), and none of its keys ${WRAPPER_KEYS.join(', ')} holds one; ` +
      `its top-level keys: ${listKeys(root)}. Pass { key } to readTorchCheckpoint to name the one holding the weights`,
  );
}

function isStateDict(value: unknown): value is PyDict {
  if (!(value instanceof PyDict)) return false;
  for (const [k, v] of value.entries) if (typeof k !== 'string' || !(v instanceof TensorRef)) return false;
  return true;
}

function entries(dict: PyDict): Array<[string, TensorRef]> {
  return [...dict.entries] as Array<[string, TensorRef]>;
}

function describeEntry(value: unknown): string {
  if (!(value instanceof PyDict)) return describePython(value);
  let tensors = 0;
  for (const v of value.entries.values()) if (v instanceof TensorRef) tensors++;
  return tensors === value.entries.size ? `dict of ${tensors} tensors` : `dict of ${value.entries.size} entries, ${tensors} of them tensors`;
}

function listKeys(dict: PyDict): string {
  const shown = [...dict.entries].slice(0, LISTED_KEYS).map(([k, v]) => `${typeof k === 'object' && k !== null ? describePython(k) : String(k)} (${describeEntry(v)})`);
  const more = dict.entries.size > LISTED_KEYS ? `, ... (${dict.entries.size} keys)` : '';
  return `${shown.join(', ')}${more}` || '(none)';
}
