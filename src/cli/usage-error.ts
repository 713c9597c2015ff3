/**
 * A command line the CLI cannot run as given: an unknown, ambiguous or malformed flag,
 * a value of the wrong type or outside its domain, a required flag left out. Printed
 * without a stack trace, with exit code 2 (argparse's).
 */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';

  /** @param message - what is wrong, naming the flag (`argument --image_size: invalid int value: 'x'`). */
  constructor(message: string) {
    super(message);
  }
}
