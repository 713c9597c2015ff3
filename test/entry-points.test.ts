// The package's two entry points: `difflib` stays backend-agnostic and browser-safe (no
// backend, no Node built-in in its static import graph); `difflib/node` holds what needs them.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Static `import … from '…'`, `export … from '…'` and bare `import '…'` specifiers (type-only ones too). */
function specifiers(file: string): string[] {
  const code = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '') // doc comments hold example imports
    .replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/^\s*(?:import|export)\s+(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm)].map((m) => m[1]!);
}

/** Every package specifier statically reachable from `entry`, by the source file that imports it. */
function packageImports(entry: string): Map<string, string> {
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of specifiers(file)) {
      if (spec.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec);
        const candidates = [`${base}.ts`, path.join(base, 'index.ts')];
        const next = candidates.find((c) => existsSync(c));
        expect(next, `${path.relative(src, file)} imports ${spec}, which resolves to no source file`).toBeDefined();
        visit(next!);
      } else if (!packages.has(spec)) {
        packages.set(spec, path.relative(src, file));
      }
    }
  };
  visit(path.join(src, entry));
  return packages;
}

describe('entry points', () => {
  it('difflib imports only tfjs-core and tfjs-layers: no backend, no Node built-in', () => {
    const imports = packageImports('index.ts');
    const others = [...imports].filter(([spec]) => !['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'].includes(spec));
    expect(others, 'packages the main entry imports besides tfjs-core and tfjs-layers (and the file importing each)').toEqual([]);
    expect(imports.has('@tensorflow/tfjs-core')).toBe(true);
  });

  it('difflib/node is where tfjs-backend-wasm and the Node built-ins come in', () => {
    const imports = packageImports('node.ts');
    expect(imports.get('@tensorflow/tfjs-backend-wasm')).toBe(path.join('node', 'threaded-wasm.ts'));
    expect([...imports.keys()].filter((s) => s.startsWith('node:')).sort()).toEqual(['node:fs', 'node:module', 'node:os', 'node:path', 'node:v8', 'node:worker_threads']);
  });
});
