#!/usr/bin/env node
// `npm run fixtures:refresh`: replaces test/fixtures/reference with the shared reference
// cases beside the repository (../shared/reference), so that a clone without ../shared
// runs every test. Run it whenever ../shared/reference changes; `test/fixtures.test.ts`
// fails while the two differ.
import { cpSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.resolve(root, '..', 'shared', 'reference');
const target = path.join(root, 'test', 'fixtures', 'reference');

if (!existsSync(source)) {
  console.error(`refresh-fixtures: no shared reference at ${source}; nothing to copy from`);
  process.exit(1);
}
rmSync(target, { recursive: true, force: true });
cpSync(source, target, { recursive: true });
console.log(`refresh-fixtures: copied ${source} to ${path.relative(root, target)}`);
