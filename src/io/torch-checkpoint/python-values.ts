// The Python values the restricted unpickler builds. str, int, bool and None become
// string, number (bigint for an int beyond 2^53), boolean and null; list becomes an array;
// float, tuple and dict get classes of their own so that they stay distinguishable (a
// float is never taken for a size).

/** A Python float. @internal */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A Python tuple. @internal */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** A Python dict or collections.OrderedDict, keys in insertion order. @internal */
export class PyDict {
  readonly entries = new Map<unknown, unknown>();
  constructor(readonly ordered: boolean) {}
}

/** A global the unpickler allowed (`module.name`); it stands for itself, nothing is imported. @internal */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A short description of a value for error messages (never its contents). @internal */
export function describePython(value: unknown): string {
  if (value === null) return 'None';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number' || typeof value === 'bigint') return 'int';
  if (value instanceof PyFloat) return 'float';
  if (Array.isArray(value)) return `list of ${value.length}`;
  if (value instanceof PyTuple) return `tuple of ${value.items.length}`;
  if (value instanceof PyDict) return `dict of ${value.entries.size}`;
  if (value instanceof PyGlobal) return value.qualifiedName;
  const described = (value as { describe?: () => string }).describe;
  return typeof described === 'function' ? described.call(value) : 'object';
}
