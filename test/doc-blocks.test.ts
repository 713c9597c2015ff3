// The code in README.md and the guides (docs/*.md) works as copied. Each JavaScript/TypeScript
// block either is a program CI runs or says that it is not:
//
// - A block that runs is preceded by `<!-- example: examples/FILE.mjs#NAME -->` and equals the
//   lines of that file between `// #region NAME` and `// #endregion NAME`; test/examples.test.ts
//   runs the file (which checks what the block did after the region).
// - Any other block starts with a comment that says why it is not run: `// Fragment: …` (it uses
//   names defined elsewhere) or `// Not run by CI: …` (a complete program, too long for CI).
//
// Shell blocks (there and in examples/README.md) name only npm scripts and files that exist.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const DOCS = [
  'README.md',
  'examples/README.md',
  ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`),
];
const SCRIPT_LANGS = new Set(['js', 'javascript', 'mjs', 'ts', 'typescript']);
const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);
const MARKER = /^<!-- example: (\S+)#([\w-]+) -->$/;
const LABEL = /^\/\/ (Fragment|Not run by CI): \S/;

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** The block's lines, without the fences and without the fence's indentation. */
  code: string;
  /** The nearest non-blank line above the fence, trimmed. */
  above: string;
}

/** The fenced code blocks of a markdown text (fences may be indented, as inside a list item). */
function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,})([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== fence) end++;
    let above = i - 1;
    while (above >= 0 && lines[above]!.trim() === '') above--;
    const code = lines.slice(i + 1, end).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()));
    blocks.push({ line: i + 1, lang, code: code.join('\n'), above: above >= 0 ? lines[above]!.trim() : '' });
    i = end;
  }
  return blocks;
}

/** The lines strictly between `// #region name` and `// #endregion name`, or null. */
function region(source: string, name: string): string | null {
  const lines = source.split('\n');
  const start = lines.indexOf(`// #region ${name}`);
  const end = lines.indexOf(`// #endregion ${name}`);
  return start >= 0 && end > start ? lines.slice(start + 1, end).join('\n') : null;
}

interface Checked {
  problems: string[];
  /** Example files (relative to the repository) that marked blocks name. */
  examples: string[];
}

/**
 * What is wrong with the code blocks of `markdown` (called `doc` in messages); `read` gives a
 * repository file's text or null, `scripts` the npm script names.
 */
function checkDoc(doc: string, markdown: string, read: (file: string) => string | null, scripts: Set<string>): Checked {
  const problems: string[] = [];
  const examples: string[] = [];
  for (const block of codeBlocks(markdown)) {
    const where = `${doc}:${block.line}`;
    if (SCRIPT_LANGS.has(block.lang)) {
      const marker = MARKER.exec(block.above);
      if (marker) {
        const [, file, name] = marker as unknown as [string, string, string];
        examples.push(file);
        const source = read(file);
        const part = source === null ? null : region(source, name);
        if (source === null) problems.push(`${where}: ${file} does not exist`);
        else if (part === null) problems.push(`${where}: ${file} has no region "${name}"`);
        else if (part !== block.code) problems.push(`${where}: the block differs from ${file}#${name}${firstDifference(block.code, part)}`);
      } else if (block.above.startsWith('<!-- example')) {
        problems.push(`${where}: malformed marker ${block.above} (want <!-- example: examples/FILE.mjs#REGION -->)`);
      } else if (!LABEL.test(block.code.split('\n')[0]!)) {
        problems.push(`${where}: a ${block.lang} block that is neither marked <!-- example: FILE#REGION --> nor starts with "// Fragment: …" or "// Not run by CI: …"`);
      }
    } else if (SHELL_LANGS.has(block.lang)) {
      for (const [, script] of block.code.matchAll(/npm run ([\w:-]+)/g)) {
        if (!scripts.has(script!)) problems.push(`${where}: npm run ${script}: no such script in package.json`);
      }
      for (const [, file] of block.code.matchAll(/\bnode ((?:examples|bench|scripts)\/[\w./-]+)/g)) {
        if (read(file!) === null) problems.push(`${where}: node ${file}: no such file`);
      }
    }
  }
  return { problems, examples };
}

function firstDifference(a: string, b: string): string {
  const [la, lb] = [a.split('\n'), b.split('\n')];
  const i = la.findIndex((l, k) => l !== lb[k]);
  const k = i < 0 ? la.length : i;
  return ` at its line ${k + 1}:\n  doc:  ${la[k] ?? '(end)'}\n  file: ${lb[k] ?? '(end)'}`;
}

const readRepo = (file: string) => (existsSync(path.join(root, file)) ? readFileSync(path.join(root, file), 'utf8') : null);
const npmScripts = new Set(Object.keys(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts as object));

describe('code blocks in README.md and docs/*.md', () => {
  const checked = DOCS.map((doc) => ({ doc, ...checkDoc(doc, readFileSync(path.join(root, doc), 'utf8'), readRepo, npmScripts) }));

  it.each(checked.map((c) => [c.doc, c] as const))('%s: every block is its example file or labelled, and names what exists', (_, c) => {
    expect(c.problems).toEqual([]);
  });

  it('README.md\'s "Use" program and the first program of getting started are example files', () => {
    const named = checked.flatMap((c) => c.examples.map((e) => `${c.doc} → ${e}`));
    expect(named).toContain('README.md → examples/readme-use.mjs');
    expect(named).toContain('docs/getting-started.md → examples/getting-started.mjs');
  });

  it('test/examples.test.ts runs every example file a block names', () => {
    const runner = readFileSync(path.join(root, 'test', 'examples.test.ts'), 'utf8');
    const files = [...new Set(checked.flatMap((c) => c.examples))];
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      expect(file.startsWith('examples/'), file).toBe(true);
      expect(runner.includes(`'${file.slice('examples/'.length)}'`), `${file} is not run by test/examples.test.ts`).toBe(true);
    }
  });
});

describe('the checker itself', () => {
  const files: Record<string, string> = {
    'examples/a.mjs': '// header\n// #region one\nimport x from "y";\n\nx();\n// #endregion one\nconsole.log("RESULT {}");\n',
  };
  const check = (markdown: string) => checkDoc('doc.md', markdown, (f) => files[f] ?? null, new Set(['demo'])).problems;

  it('accepts a marked block equal to its region, also indented in a list item', () => {
    expect(check('Text\n\n<!-- example: examples/a.mjs#one -->\n```js\nimport x from "y";\n\nx();\n```\n')).toEqual([]);
    expect(check('- item:\n\n  <!-- example: examples/a.mjs#one -->\n  ```ts\n  import x from "y";\n\n  x();\n  ```\n')).toEqual([]);
  });

  it('refuses a marked block that differs, a missing file or region, and a malformed marker', () => {
    expect(check('<!-- example: examples/a.mjs#one -->\n```js\nimport x from "y";\nx(1);\n```\n')).toEqual([
      'doc.md:2: the block differs from examples/a.mjs#one at its line 2:\n  doc:  x(1);\n  file: ',
    ]);
    expect(check('<!-- example: examples/a.mjs#two -->\n```js\nx();\n```\n')).toEqual(['doc.md:2: examples/a.mjs has no region "two"']);
    expect(check('<!-- example: examples/b.mjs#one -->\n```js\nx();\n```\n')).toEqual(['doc.md:2: examples/b.mjs does not exist']);
    expect(check('<!-- example: examples/a.mjs -->\n```js\nx();\n```\n')[0]).toMatch(/^doc\.md:2: malformed marker/);
  });

  it('refuses an unmarked script block unless it is labelled, and ignores other languages', () => {
    expect(check('```ts\ndeclare const model: M;\n```\n')[0]).toMatch(/^doc\.md:1: a ts block that is neither marked/);
    expect(check('```ts\n// Fragment: `model` is yours.\ndeclare const model: M;\n```\n')).toEqual([]);
    expect(check('```js\n// Not run by CI: hours on wasm.\nawait train();\n```\n')).toEqual([]);
    expect(check('```python\nimport torch\n```\n```json\n{}\n```\n')).toEqual([]);
  });

  it('refuses shell blocks that run a missing npm script or file', () => {
    expect(check('```sh\nnpm ci && npm run demo\nnode examples/a.mjs --x 1\n```\n')).toEqual([]);
    expect(check('```sh\nnpm run dmeo\nnode examples/missing.mjs\n```\n')).toEqual([
      'doc.md:1: npm run dmeo: no such script in package.json',
      'doc.md:1: node examples/missing.mjs: no such file',
    ]);
  });
});
