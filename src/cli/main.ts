// The `difflib` command: dispatch, help, and how failures are reported.
import { DifflibError } from '../index';
import { version } from '../../package.json';
import type { Command, CommandContext } from './command';
import { nllCommand } from './commands/nll';
import { sampleCommand } from './commands/sample';
import { trainCommand } from './commands/train';
import { didYouMean } from './flags/did-you-mean';
import { formatCommandHelp } from './flags/help';
import { parseFlags } from './flags/parse';
import { CliUsageError } from './usage-error';

/** The subcommands, in help order. */
export const COMMANDS: readonly Command[] = [trainCommand, sampleCommand, nllCommand];

/** Exit codes: argparse's 2 for a command line that cannot run, 1 for a failure while running. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: difflib <command> [--flag value ...]',
    '',
    "improved-diffusion's scripts on difflib (TensorFlow.js), with their flags:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'A command line of improved-diffusion runs as it is, e.g.',
    '  difflib train --data_dir images --image_size 32 --num_channels 128 --num_res_blocks 3 \\',
    '    --diffusion_steps 4000 --noise_schedule cosine --lr 1e-4 --batch_size 128',
    "Output goes to --log_dir (else $OPENAI_LOGDIR, else /tmp/openai-<date>).",
    '',
    'difflib <command> --help lists its flags. difflib --version prints the version.',
    '',
  ].join('\n');
}

/**
 * Runs `difflib <argv>`: parses the command line, runs the command, and reports a
 * failure as one message without a stack trace (`DIFFLIB_DEBUG=1` adds it for failures
 * that are not difflib's own errors).
 *
 * @param argv - the arguments after `difflib`.
 * @param context - output streams, environment, terminal, abort signal.
 * @returns the exit code: 0 done, 1 failed while running, 2 usage error, 130 interrupted.
 */
export async function runCli(argv: readonly string[], context: CommandContext): Promise<number> {
  const { out } = context;
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? out.stderr : out.stdout)(topLevelHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    out.stdout(`difflib ${version}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const close = didYouMean(name, COMMANDS.map((c) => c.name));
    out.stderr(`difflib: error: unknown command '${name}'${close.length ? `; did you mean ${close[0]}?` : ''} (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n`);
    return EXIT.usage;
  }
  const label = `difflib ${command.name}`;
  try {
    const parsed = parseFlags(rest, command.flags);
    if (parsed.help) {
      out.stdout(formatCommandHelp(command.name, command.script, command.description, command.flags));
      return EXIT.ok;
    }
    await command.run(parsed.values, parsed.given, context);
    return context.signal?.aborted ? EXIT.interrupted : EXIT.ok;
  } catch (e) {
    if (e instanceof CliUsageError) {
      const message = e.message.startsWith(`${label}:`) ? e.message.slice(label.length + 2) : e.message;
      out.stderr(`${label}: error: ${message}\nSee 'difflib ${command.name} --help' for its flags.\n`);
      return EXIT.usage;
    }
    if (context.signal?.aborted) {
      out.stderr(`${label}: interrupted\n`);
      return EXIT.interrupted;
    }
    if (e instanceof DifflibError) {
      out.stderr(`${e.functionName === label ? e.message : `${label}: ${e.message}`}\n`);
      return EXIT.failure;
    }
    const error = e instanceof Error ? e : new Error(String(e));
    out.stderr(`${label}: ${error.message}\n${context.env['DIFFLIB_DEBUG'] ? `${error.stack}\n` : '(DIFFLIB_DEBUG=1 shows the stack trace)\n'}`);
    return EXIT.failure;
  }
}
