import { CliUsageError } from '../usage-error';

/**
 * How a flag's text becomes a value, as improved-diffusion's `add_dict_to_argparser`
 * types them: `int` and `float` as Python's `int()` / `float()` read decimal text,
 * `bool` through `str2bool`, `str` as given.
 */
export type FlagType = 'str' | 'int' | 'float' | 'bool';

/** A parsed flag value. `null` only for a flag whose default is "unset" (e.g. `--seed`). */
export type FlagValue = string | number | boolean | null;

/** One `--name value` flag. */
export interface FlagSpec {
  /** The name without dashes, improved-diffusion's spelling (`image_size`). */
  name: string;
  type: FlagType;
  /** The value when the flag is absent; `null` means "unset" (the help says what that does). */
  default: FlagValue;
  /** One line for `--help`. */
  help: string;
  /** Where the flag comes from, for `--help`: improved-diffusion's script, guided-diffusion or difflib. */
  group: string;
}

/** The values of a command's flags by name, defaults filled in. */
export type FlagValues = Record<string, FlagValue>;

/** improved-diffusion's `str2bool`: yes/true/t/y/1 and no/false/f/n/0, any case. */
export function str2bool(flag: string, text: string): boolean {
  const lower = text.toLowerCase();
  if (['yes', 'true', 't', 'y', '1'].includes(lower)) return true;
  if (['no', 'false', 'f', 'n', '0'].includes(lower)) return false;
  throw new CliUsageError(`argument --${flag}: boolean value expected (True/False, yes/no, 1/0), got '${text}'`);
}

// Python's int() and float() take surrounding whitespace and underscores between digits.
const INT = /^\s*[+-]?\d+(_\d+)*\s*$/;
const FLOAT = /^\s*[+-]?(\d+(_\d+)*(\.(\d+(_\d+)*)?)?|\.\d+(_\d+)*)([eE][+-]?\d+(_\d+)*)?\s*$/;

/** The value of `text` for a flag of type `spec.type`, or a usage error in argparse's words. */
export function convertFlag(spec: FlagSpec, text: string): FlagValue {
  switch (spec.type) {
    case 'str':
      return text;
    case 'bool':
      return str2bool(spec.name, text);
    case 'int': {
      const value = INT.test(text) ? Number(text.replace(/_/g, '')) : NaN;
      if (!Number.isSafeInteger(value)) throw new CliUsageError(`argument --${spec.name}: invalid int value: '${text}'`);
      return value;
    }
    case 'float': {
      const value = FLOAT.test(text) ? Number(text.replace(/_/g, '')) : NaN;
      if (!Number.isFinite(value)) throw new CliUsageError(`argument --${spec.name}: invalid float value: '${text}'`);
      return value;
    }
  }
}
