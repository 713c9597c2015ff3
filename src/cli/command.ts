import type { FlagSpec, FlagValues } from './flags/spec';
import type { CliOutput } from './log/logger';
import { CliUsageError } from './usage-error';

/** What a command runs with besides its flags. */
export interface CommandContext {
  /** Where stdout (improved-diffusion's log) and stderr (progress, errors) go. */
  out: CliOutput;
  /** The environment (OPENAI_LOGDIR, OPENAI_LOG_FORMAT). */
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal (progress rewrites one line). */
  tty: boolean;
  /** Aborted on Ctrl-C: training saves a checkpoint and stops. */
  signal?: AbortSignal;
}

/** One subcommand of `difflib`. */
export interface Command {
  /** `train`, `sample` or `nll`. */
  name: string;
  /** improved-diffusion's script it stands for. */
  script: string;
  /** One line for the top-level help. */
  summary: string;
  /** A few lines for the command's help. */
  description: string;
  /** Its flags, in help order. */
  flags: readonly FlagSpec[];
  /** Runs it; resolves when done. */
  run(values: FlagValues, given: ReadonlySet<string>, context: CommandContext): Promise<void>;
}

/** A usage error unless `value` is an integer ≥ `min`. */
export function atLeast(f: FlagValues, name: string, min: number): number {
  const value = f[name] as number;
  if (!(value >= min)) throw new CliUsageError(`argument --${name}: must be at least ${min}, got ${value}`);
  return value;
}

/** A usage error when a required path flag is empty (improved-diffusion fails later, on its first use). */
export function required(f: FlagValues, name: string): string {
  const value = f[name] as string;
  if (value === '') throw new CliUsageError(`the argument --${name} is required`);
  return value;
}

/** `--seed`, or a fresh random seed in [0, 2³²) when it was not given. */
export function runSeed(f: FlagValues): number {
  const seed = f['seed'] as number | null;
  if (seed === null) return Math.floor(Math.random() * 2 ** 32);
  if (!(seed >= 0 && seed < 2 ** 32)) throw new CliUsageError(`argument --seed: must be an integer in [0, 2^32), got ${seed}`);
  return seed;
}
