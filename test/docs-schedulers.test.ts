// docs/schedulers.md lists every scheduler difflib has with every config key and its default.
// That table is made from the schedulers themselves (each registered class's defaults,
// toConfig()), so it cannot drift: this test fails when it differs from what the code says, and
// rewrites it when run with DIFFLIB_WRITE_DOCS=1:
//
//   DIFFLIB_WRITE_DOCS=1 npx vitest run --project node test/docs-schedulers.test.ts
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEDULER_CLASSES } from '../src/sampling/schedulers/from-config';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(root, 'docs', 'schedulers.md');
const BEGIN = '<!-- scheduler-table:begin — made from the code by test/docs-schedulers.test.ts; do not edit by hand -->';
const END = '<!-- scheduler-table:end -->';

/** A default as the table shows it: JSON, `[]`-style lists, numbers as JavaScript writes them. */
const show = (value: unknown) => `\`${JSON.stringify(value)}\``;

/** The table: one row per class (alphabetical), its order and every config key with its default. */
function schedulerTable(): string {
  const rows = Object.entries(SCHEDULER_CLASSES)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, entry]) => {
      const scheduler = entry.create({});
      const { _class_name: _, ...config } = scheduler.toConfig();
      scheduler.dispose();
      const keys = Object.entries(config).map(([key, value]) => `\`${key}\` = ${show(value)}`);
      return `| \`${name}\` | ${scheduler.order} | ${keys.join(' · ')} |`;
    });
  return [
    '| diffusers `_class_name` | order | config keys and defaults (constructor options: the same keys camelCased) |',
    '| --- | ---: | --- |',
    ...rows,
  ].join('\n');
}

/** The table part of the doc, between the markers, or null. */
function tableInDoc(doc: string): string | null {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  return start >= 0 && end > start ? doc.slice(start + BEGIN.length, end).trim() : null;
}

describe('docs/schedulers.md: the table of schedulers', () => {
  const doc = readFileSync(DOC, 'utf8');
  const expected = schedulerTable();

  if (process.env['DIFFLIB_WRITE_DOCS'] === '1') {
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    if (start < 0 || end < start) throw new Error(`${DOC}: no ${BEGIN} … ${END} markers to write between`);
    writeFileSync(DOC, `${doc.slice(0, start + BEGIN.length)}\n${expected}\n${doc.slice(end)}`);
  }

  it('is what the registered classes say (rewrite it: DIFFLIB_WRITE_DOCS=1 npx vitest run --project node test/docs-schedulers.test.ts)', () => {
    expect(tableInDoc(readFileSync(DOC, 'utf8'))).toBe(expected);
  });

  it('names every registered class and every key of its schema', () => {
    const table = tableInDoc(readFileSync(DOC, 'utf8')) ?? '';
    for (const [name, entry] of Object.entries(SCHEDULER_CLASSES)) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `${name} has no row`).toBeDefined();
      for (const key of Object.keys(entry.schema)) expect(row, `${name}.${key}`).toContain(`\`${key}\` `);
    }
  });
});
