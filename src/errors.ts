/**
 * Why a call was refused. Every code but `NON_FINITE` and `DATA_RANGE` is raised
 * before any tensor is made; every code leaves nothing leaked.
 *
 * - `INVALID_ARGUMENT`: a value has the wrong type, is not finite, or is outside its domain.
 * - `SHAPE_MISMATCH`: tensors that must agree in shape (or batch size) do not.
 * - `OUT_OF_RANGE`: an index (a timestep, usually) falls outside the table it indexes.
 * - `UNKNOWN_OPTION`: a string enum (schedule name, mean type, ...) is not one we know.
 * - `UNSATISFIABLE`: a request that is well-formed but cannot be met, e.g. `"ddim7"` over 10 steps.
 * - `NON_FINITE`: a value computed at run time (a training loss, a gradient norm) is NaN or infinite.
 * - `DATA_RANGE`: data read back when asked (`checkDataRange`, a Trainer's `expectDataRange`)
 *   holds values outside the expected range, e.g. 8-bit pixels where [−1, 1] was expected.
 */
export type DifflibErrorCode =
  | 'INVALID_ARGUMENT'
  | 'SHAPE_MISMATCH'
  | 'OUT_OF_RANGE'
  | 'UNKNOWN_OPTION'
  | 'UNSATISFIABLE'
  | 'NON_FINITE'
  | 'DATA_RANGE';

/**
 * The error every difflib function throws for bad input. The message names the
 * function, the argument, what was expected and what was given, e.g.
 * `qSample: t has 3 entries but xStart has batch 2`.
 *
 * @example
 * ```ts
 * try {
 *   namedBetaSchedule('quadratic' as never, 1000);
 * } catch (e) {
 *   if (e instanceof DifflibError) console.log(e.code, e.functionName, e.argument);
 * }
 * ```
 */
export class DifflibError extends Error {
  /** Always `'DifflibError'`. */
  override readonly name = 'DifflibError';

  /**
   * @param code - the kind of failure.
   * @param functionName - the public function or method that refused the call.
   * @param argument - the argument at fault (a dotted path for option fields).
   * @param detail - what was expected and what was given.
   */
  constructor(
    readonly code: DifflibErrorCode,
    readonly functionName: string,
    readonly argument: string,
    readonly detail: string,
  ) {
    super(`${functionName}: ${argument} ${detail}`);
  }
}

/**
 * Runs `body`, re-attributing a DifflibError it throws to the public function and
 * argument the user actually called, keeping the detail (e.g. a bad `useTimesteps`
 * found while `new GaussianDiffusion` respaces its schedule).
 * @internal
 */
export function attributeErrors<T>(functionName: string, argument: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof DifflibError) throw new DifflibError(e.code, functionName, argument, e.detail);
    throw e;
  }
}

/** Formats a value for an error message without dumping large arrays. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const items = Array.from(value as ArrayLike<unknown>);
    const head = items.slice(0, 6).map(describeValue).join(', ');
    return `[${head}${items.length > 6 ? `, ... (${items.length} entries)` : ''}]`;
  }
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
  }
  return String(value);
}
