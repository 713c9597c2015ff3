import type { FlagSpec, FlagValue } from './spec';

/** A default as a command line would write it (Python's spelling for booleans; "" for none). */
export function showDefault(spec: FlagSpec): string {
  const value: FlagValue = spec.default;
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return value === '' ? '""' : value;
  return spec.type === 'float' && Number.isInteger(value) ? value.toFixed(1) : String(value);
}

const GROUP_TITLES: Record<string, string> = {
  'improved-diffusion': "improved-diffusion's flags (same names, types and defaults)",
  'guided-diffusion': "guided-diffusion's architecture flags (for its checkpoints)",
  difflib: "difflib's own flags",
};

/**
 * A command's `--help`: usage, description, then its flags grouped by where they come
 * from, each with its type, default and one line.
 */
export function formatCommandHelp(command: string, script: string, description: string, specs: readonly FlagSpec[]): string {
  const lines = [`usage: difflib ${command} [--flag value ...]`, '', `improved-diffusion's ${script}, in difflib.`, '', description, ''];
  const width = Math.max(...specs.map((s) => `--${s.name} ${s.type.toUpperCase()}`.length));
  for (const group of ['improved-diffusion', 'guided-diffusion', 'difflib']) {
    const members = specs.filter((s) => s.group === group);
    if (members.length === 0) continue;
    lines.push(`${GROUP_TITLES[group]}:`);
    for (const s of members) {
      const shown = showDefault(s);
      lines.push(`  ${`--${s.name} ${s.type.toUpperCase()}`.padEnd(width)}  ${s.help}${shown ? ` (default: ${shown})` : ''}`);
    }
    lines.push('');
  }
  lines.push('Booleans take a value: True/False, yes/no, t/f, y/n or 1/0 (--learn_sigma True).');
  return `${lines.join('\n')}\n`;
}
