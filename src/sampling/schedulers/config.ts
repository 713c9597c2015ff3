import { DifflibError, describeValue } from '../../errors';

/**
 * One key of a scheduler's diffusers config: its default and the rule its value must
 * follow (an error detail, or null when the value is fine).
 * @internal
 */
export interface ConfigKey {
  default: unknown;
  check: (value: unknown) => string | null;
}

/** A scheduler's config keys, snake_case as diffusers writes them. @internal */
export type ConfigSchema = Readonly<Record<string, ConfigKey>>;

/**
 * Keys of newer diffusers versions (or of features difflib does not implement) and the
 * value at which they change nothing: a config holding the neutral value loads (with a
 * warning), any other value is refused.
 * @internal
 */
export type NeutralKeys = Readonly<Record<string, unknown>>;

/** Keys every diffusers config may carry that say nothing about the math. */
const BOOKKEEPING_KEYS = new Set(['_class_name', '_diffusers_version', '_use_default_values']);

// ---------------------------------------------------------------- value rules

/** A positive integer. @internal */
export const positiveInteger = (v: unknown) => (Number.isSafeInteger(v) && (v as number) > 0 ? null : `must be a positive integer, got ${describeValue(v)}`);
/** A non-negative integer. @internal */
export const nonNegativeInteger = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? null : `must be a non-negative integer, got ${describeValue(v)}`);
/** A finite number. @internal */
export const finiteNumber = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? null : `must be a finite number, got ${describeValue(v)}`);
/** A positive finite number. @internal */
export const positiveNumber = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : `must be a positive number, got ${describeValue(v)}`);
/** A boolean. @internal */
export const boolean = (v: unknown) => (typeof v === 'boolean' ? null : `must be a boolean, got ${describeValue(v)}`);
/** One of `values`. @internal */
export const oneOf =
  (...values: readonly unknown[]) =>
  (v: unknown) =>
    values.includes(v) ? null : `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${describeValue(v)}`;
/** null, or what `rule` accepts. @internal */
export const nullOr = (rule: (v: unknown) => string | null) => (v: unknown) => (v === null ? null : rule(v));
/** An array of finite numbers. @internal */
export const numberArray = (v: unknown) =>
  (Array.isArray(v) || ArrayBuffer.isView(v)) && Array.from(v as ArrayLike<unknown>).every((x) => typeof x === 'number' && Number.isFinite(x))
    ? null
    : `must be an array of finite numbers, got ${describeValue(v)}`;

// ---------------------------------------------------------------- names

/** `numTrainTimesteps` → `num_train_timesteps`. @internal */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `num_train_timesteps` → `numTrainTimesteps`. @internal */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

// ---------------------------------------------------------------- resolution

/**
 * The full config (snake_case, every default filled in) from a constructor's camelCase
 * options. Unknown options and bad values are refused, naming `options.<camelName>`.
 * @internal
 */
export function configFromOptions(
  className: string,
  schema: ConfigSchema,
  options: unknown,
): Record<string, unknown> {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new DifflibError('INVALID_ARGUMENT', className, 'options', `must be an object of camelCased config options, got ${describeValue(options)}`);
  }
  const config: Record<string, unknown> = {};
  for (const [key, { default: value }] of Object.entries(schema)) config[key] = value;
  for (const [name, value] of Object.entries(options as Record<string, unknown>)) {
    if (value === undefined) continue;
    const key = snakeCase(name);
    const rule = schema[key];
    if (rule === undefined) {
      const known = Object.keys(schema).map(camelCase).join(', ');
      throw new DifflibError('UNKNOWN_OPTION', className, `options.${name}`, `is not an option of ${className}; its options are ${known}`);
    }
    const problem = rule.check(value);
    if (problem !== null) throw new DifflibError('INVALID_ARGUMENT', className, `options.${name}`, problem);
    config[key] = value;
  }
  return config;
}

/**
 * The camelCase constructor options of a diffusers config as it is (snake_case,
 * `_class_name`): known keys are checked; bookkeeping keys (`_diffusers_version`) are
 * dropped; a key difflib does not know, or knows but does not implement, is accepted
 * with a warning when its value is `null`, `false` or its neutral value, and refused
 * otherwise, since it would change the math.
 * @internal
 */
export function optionsFromConfig(
  fn: string,
  className: string,
  schema: ConfigSchema,
  neutral: NeutralKeys,
  config: Record<string, unknown>,
  warn: (message: string) => void,
): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (BOOKKEEPING_KEYS.has(key)) continue;
    const rule = schema[key];
    if (rule !== undefined) {
      const problem = rule.check(value);
      if (problem !== null) throw new DifflibError('INVALID_ARGUMENT', fn, `config.${key}`, `(${className}) ${problem}`);
      options[camelCase(key)] = value;
      continue;
    }
    const isNeutral = Object.hasOwn(neutral, key) ? sameValue(value, neutral[key]) : value === null || value === false;
    if (!isNeutral) {
      const expected = Object.hasOwn(neutral, key) ? `only ${JSON.stringify(neutral[key])} (what changes nothing)` : 'only null or false';
      throw new DifflibError(
        'UNKNOWN_OPTION',
        fn,
        `config.${key}`,
        `is not implemented by difflib's ${className} and would change its results: it accepts ${expected}, got ${describeValue(value)}`,
      );
    }
    warn(`${fn}: config.${key} (${describeValue(value)}) is not a ${className} option difflib knows; ignored, as its value changes nothing`);
  }
  return options;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
