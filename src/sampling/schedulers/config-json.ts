import { DifflibError } from '../../errors';

// diffusers writes scheduler_config.json with Python's json module, which spells the
// non-finite floats as bare NaN, Infinity and -Infinity (DPM-Solver's lambda_min_clipped
// defaults to -Infinity); JSON.parse refuses those tokens and JSON.stringify writes null.
// These two functions read and write that dialect.

const TOKENS = ['-Infinity', 'Infinity', 'NaN'] as const;
const VALUES: Record<(typeof TOKENS)[number], number> = { '-Infinity': -Infinity, Infinity, NaN };
/** Stands in for a non-finite number inside JSON text (no real config string looks like it). */
const SENTINEL = '\u0000difflib-non-finite:';

/**
 * Parses a `scheduler_config.json` as diffusers writes it: JSON plus bare `NaN`,
 * `Infinity` and `-Infinity`.
 * @internal
 */
export function parseConfigJson(fn: string, text: string): Record<string, unknown> {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const token = TOKENS.find((t) => text.startsWith(t, i));
    if (token !== undefined) {
      out += JSON.stringify(SENTINEL + token);
      i += token.length - 1;
    } else out += c;
  }
  try {
    const parsed = JSON.parse(out, (_key, value: unknown) =>
      typeof value === 'string' && value.startsWith(SENTINEL) ? VALUES[value.slice(SENTINEL.length) as (typeof TOKENS)[number]] : value,
    ) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (e) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'config', `is not a scheduler_config.json (${(e as Error).message})`);
  }
}

/**
 * A config as diffusers' `scheduler_config.json` text: keys sorted, two-space indent,
 * non-finite numbers as bare `NaN` / `Infinity` / `-Infinity`, so diffusers (and
 * {@link parseConfigJson}) read it back exactly.
 * @internal
 */
export function stringifyConfigJson(config: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const text = JSON.stringify(sorted, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? SENTINEL + String(value) : value), 2);
  return text.replace(new RegExp(`"${SENTINEL.replace('\u0000', '\\\\u0000')}(-Infinity|Infinity|NaN)"`, 'g'), '$1');
}
