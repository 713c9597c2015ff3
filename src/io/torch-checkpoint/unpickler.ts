// A restricted pickle machine: the opcodes torch.save emits for a state dict (protocol 2,
// its default, and the protocol-4 forms that pickle_protocol=4 gives), nothing else. It
// imports nothing and calls nothing: GLOBAL, REDUCE, BUILD and BINPERSID are handed to the
// caller's hooks, which allow or refuse by name. It is a loop, never recursive, and every
// length is checked against the bytes left, so no input makes it hang, recurse deeply or
// allocate more than the pickle's own size.
import { PyDict, PyFloat, PyGlobal, PyTuple, describePython } from './python-values';
import type { Fail } from './zip-archive';

/** What the pickle may do beyond building plain values; each hook throws to refuse. @internal */
export interface UnpickleHooks {
  /** `GLOBAL` / `STACK_GLOBAL`: the object standing for `module.name`. */
  global(module: string, name: string): PyGlobal;
  /** `BINPERSID`: the object a persistent id stands for (torch: a storage record). */
  persistentLoad(pid: unknown): unknown;
  /** `REDUCE`: `callable(*args)`. */
  reduce(callable: unknown, args: PyTuple): unknown;
  /** `BUILD`: `target.__setstate__(state)`. */
  build(target: unknown, state: unknown): void;
}

/** Deeper MARK nesting than a state dict's few levels is refused. @internal */
export const MAX_MARK_DEPTH = 64;
/** A module or attribute name for GLOBAL is at most this long. */
const MAX_GLOBAL_LINE = 256;

/**
 * Runs the pickle in `bytes` with `hooks` and returns what STOP finds.
 * @internal
 */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, fail: Fail): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  let at = 0; // the current opcode's position, for messages

  const bad = (detail: string): never => {
    throw fail(`has a malformed pickle (data.pkl, byte ${at}): ${detail}`);
  };
  const need = (n: number): number => {
    if (n > bytes.length - p) bad(`needs ${n} more bytes but ${bytes.length - p} remain`);
    const start = p;
    p += n;
    return start;
  };
  const text = (n: number): string => {
    const start = need(n);
    try {
      return decoder.decode(bytes.subarray(start, start + n));
    } catch {
      return bad('holds a string that is not UTF-8');
    }
  };
  const pop = (): unknown => (stack.length ? stack.pop() : bad('pops an empty stack'));
  const top = (): unknown => (stack.length ? stack[stack.length - 1] : bad('uses the top of an empty stack'));
  const popMark = (): unknown[] => {
    const items = stack;
    stack = marks.pop() ?? bad('closes a MARK that was never opened');
    return items;
  };
  const put = (index: number): void => {
    memo.set(index, top());
  };
  const get = (index: number): void => {
    if (!memo.has(index)) bad(`reads memo slot ${index}, which was never written`);
    stack.push(memo.get(index));
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof PyDict)) bad(`sets items on a ${describePython(dict)}, not a dict`);
    if (items.length % 2) bad('sets items from an odd number of keys and values');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (Array.isArray(key) || key instanceof PyDict) bad(`uses a ${describePython(key)} as a dict key`);
      (dict as PyDict).entries.set(key, items[i + 1]);
    }
  };
  const append = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list)) bad(`appends to a ${describePython(list)}, not a list`);
    for (const item of items) (list as unknown[]).push(item);
  };
  const globalLine = (): string => {
    const end = bytes.subarray(p, p + MAX_GLOBAL_LINE + 1).indexOf(0x0a);
    if (end < 0) bad(`has a GLOBAL name without a newline in its first ${MAX_GLOBAL_LINE} bytes`);
    const line = text(end);
    p++;
    return line;
  };

  for (;;) {
    at = p;
    const op = bytes[need(1)]!;
    switch (op) {
      case 0x80: {
        // PROTO
        const protocol = bytes[need(1)]!;
        if (protocol < 2 || protocol > 5) bad(`declares pickle protocol ${protocol}; torch.save writes 2 (or the protocol given, 2 to 5)`);
        break;
      }
      case 0x95: {
        // FRAME: a length hint for buffered readers; the opcodes follow inline.
        const start = need(8);
        const length = view.getUint32(start + 4, true) * 2 ** 32 + view.getUint32(start, true);
        if (length > bytes.length - p) bad(`declares a frame of ${length} bytes but ${bytes.length - p} remain`);
        break;
      }
      case 0x2e: {
        // STOP
        if (marks.length || stack.length !== 1) bad(`stops with ${stack.length} values on the stack and ${marks.length} open MARKs`);
        return stack[0];
      }
      case 0x28: // MARK
        if (marks.length >= MAX_MARK_DEPTH) bad(`nests MARKs more than ${MAX_MARK_DEPTH} deep`);
        marks.push(stack);
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict(false));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: {
        // TUPLE (popMark replaces the stack: take the items first)
        const items = popMark();
        stack.push(new PyTuple(items));
        break;
      }
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        if (stack.length < n) bad(`makes a ${n}-tuple from ${stack.length} values`);
        stack.push(new PyTuple(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text(view.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(bytes[need(1)]!));
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]!);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x8a: {
        // LONG1: n bytes, little-endian two's complement.
        const n = bytes[need(1)]!;
        if (n > 8) bad(`holds a ${n}-byte integer; this reader takes up to 64 bits`);
        const start = need(n);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[start + i]!);
        if (n > 0) value = BigInt.asIntN(8 * n, value);
        stack.push(value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value);
        break;
      }
      case 0x47: // BINFLOAT: big-endian double
        stack.push(new PyFloat(view.getFloat64(need(8), false)));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x71: // BINPUT
        put(bytes[need(1)]!);
        break;
      case 0x72: // LONG_BINPUT
        put(view.getUint32(need(4), true));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(bytes[need(1)]!);
        break;
      case 0x6a: // LONG_BINGET
        get(view.getUint32(need(4), true));
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = globalLine();
        stack.push(hooks.global(module, globalLine()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad('names a global with values that are not strings');
        stack.push(hooks.global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!(args instanceof PyTuple)) bad(`calls with a ${describePython(args)} as the arguments, not a tuple`);
        stack.push(hooks.reduce(callable, args as PyTuple));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        hooks.build(top(), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      default: {
        const char = op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : '';
        throw fail(
          `has pickle opcode 0x${op.toString(16).padStart(2, '0')}${char} at byte ${at} of data.pkl, which is not one torch.save uses for a state dict: refused`,
        );
      }
    }
  }
}
