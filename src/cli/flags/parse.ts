import { CliUsageError } from '../usage-error';
import { didYouMean } from './did-you-mean';
import { convertFlag, type FlagSpec, type FlagValues } from './spec';

/** What {@link parseFlags} found: the values, or a request for help. */
export type ParsedFlags = { help: true } | { help: false; values: FlagValues; given: ReadonlySet<string> };

/**
 * Reads `--name value` and `--name=value` flags as argparse reads improved-diffusion's:
 * every flag takes one value (`--learn_sigma True`, not a bare `--learn_sigma`); a
 * unique prefix stands for the whole name (`--num_samp`); a value may start with `-`
 * only when it is a number (`--microbatch -1`); the last of repeated flags wins.
 * `-h` / `--help` anywhere asks for help.
 *
 * @param argv - the arguments after the command name.
 * @param specs - the command's flags.
 * @returns the values with defaults filled in, and the names given on the command line.
 * @throws CliUsageError for an unknown or ambiguous flag (with the closest names), a
 *   missing value, a value of the wrong type, or a stray positional argument.
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  if (argv.some((a) => a === '-h' || a === '--help')) return { help: true };
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: FlagValues = Object.fromEntries(specs.map((s) => [s.name, s.default]));
  const given = new Set<string>();
  const stray: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('--') || token === '--') {
      stray.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const written = token.slice(2, eq < 0 ? undefined : eq);
    const spec = lookup(written, byName);
    let text: string;
    if (eq >= 0) text = token.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && !/^-\d*\.?\d+([eE][+-]?\d+)?$/.test(next))) {
        throw new CliUsageError(`argument --${spec.name}: expected one argument${spec.type === 'bool' ? ' (True or False)' : ''}`);
      }
      text = next;
      i++;
    }
    values[spec.name] = convertFlag(spec, text);
    given.add(spec.name);
  }
  if (stray.length > 0) throw new CliUsageError(`unrecognized arguments: ${stray.join(' ')} (every flag is --name value)`);
  return { help: false, values, given };
}

/** The flag a written name stands for: itself, or the one flag it is a prefix of. */
function lookup(written: string, byName: ReadonlyMap<string, FlagSpec>): FlagSpec {
  const exact = byName.get(written);
  if (exact) return exact;
  const names = [...byName.keys()];
  const prefixed = written.length > 0 ? names.filter((n) => n.startsWith(written)) : [];
  if (prefixed.length === 1) return byName.get(prefixed[0]!)!;
  if (prefixed.length > 1) {
    throw new CliUsageError(`ambiguous option: --${written} could match ${prefixed.map((n) => `--${n}`).join(', ')}`);
  }
  const close = didYouMean(written, names);
  const hint = close.length > 0 ? `; did you mean ${close.map((n) => `--${n}`).join(' or ')}?` : '';
  throw new CliUsageError(`unrecognized argument: --${written}${hint}`);
}
