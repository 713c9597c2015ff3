// docs/cli.md lists every flag of every command with the type and default the CLI has.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MODEL_FLAGS, NLL_FLAGS, RUN_FLAGS, SAMPLE_FLAGS, TRAIN_FLAGS } from '../../src/cli/flags/definitions';
import { showDefault } from '../../src/cli/flags/help';
import type { FlagSpec } from '../../src/cli/flags/spec';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const doc = readFileSync(path.join(root, 'docs', 'cli.md'), 'utf8');

/** The flag rows of the table under `### heading`: name, type and default as written. */
function tableUnder(heading: string): { name: string; type: string; default: string }[] {
  const start = doc.indexOf(`\n### ${heading}\n`);
  expect(start, `docs/cli.md has no "### ${heading}"`).toBeGreaterThan(0);
  const next = doc.indexOf('\n#', start + 5);
  return doc
    .slice(start, next < 0 ? undefined : next)
    .split('\n')
    .map((line) => /^\| `--(\w+)` \| (\w+) \| (`[^`]*`|—) \|/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([, name, type, shown]) => ({ name: name!, type: type!, default: shown === '—' ? '' : shown!.slice(1, -1) }));
}

const expected = (flags: readonly FlagSpec[]) => flags.map((f) => ({ name: f.name, type: f.type, default: showDefault(f) }));

describe('docs/cli.md', () => {
  it.each([
    ['Model and diffusion (every command)', MODEL_FLAGS],
    ['`train`', TRAIN_FLAGS],
    ['`sample`', SAMPLE_FLAGS],
    ['`nll`', NLL_FLAGS],
    ["difflib's own (every command)", RUN_FLAGS],
  ] as const)('"%s" lists its flags in order, with their types and defaults', (heading, flags) => {
    expect(tableUnder(heading)).toEqual(expected(flags));
  });

  it('is linked from README.md and docs/README.md', () => {
    expect(readFileSync(path.join(root, 'README.md'), 'utf8')).toContain('(docs/cli.md)');
    expect(readFileSync(path.join(root, 'docs', 'README.md'), 'utf8')).toContain('(cli.md)');
  });
});
