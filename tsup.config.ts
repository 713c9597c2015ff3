import path from 'node:path';
import { defineConfig, type Options } from 'tsup';

const src = path.resolve('src');

/**
 * dist/cli.js uses the library through dist/index.js (and dist/node.js), not a copy of it:
 * src/cli's imports of src/index.ts and src/node.ts become `./index.js` and `./node.js`.
 * Besides its own files it may bundle only the pure internal helpers listed here (no
 * DifflibError, no tfjs registrations, which must exist once per process); any other
 * import of src/ fails the build.
 */
const PURE_HELPERS = new Set(['random.ts', path.join('data', 'permutation.ts')].map((f) => path.join(src, f)));
const cliUsesTheLibrary: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'cli-uses-the-library',
  setup(build) {
    build.onResolve({ filter: /^\./ }, ({ path: specifier, resolveDir, importer }) => {
      const resolved = path.resolve(resolveDir, specifier);
      const file = /\.(ts|json)$/.test(resolved) ? resolved : `${resolved}.ts`;
      if (file === path.join(src, 'index.ts')) return { path: './index.js', external: true };
      if (file === path.join(src, 'node.ts')) return { path: './node.js', external: true };
      if (!file.startsWith(src + path.sep) || file.startsWith(path.join(src, 'cli') + path.sep) || PURE_HELPERS.has(file)) return undefined;
      return { errors: [{ text: `${path.relative('.', importer)} imports ${path.relative('.', file)}: src/cli uses the library through src/index.ts (or a pure helper listed in tsup.config.ts)` }] };
    });
  },
};

export default defineConfig([
  {
    // difflib/node: Node-only helpers (Node built-ins, tfjs-backend-wasm); never in the main entry.
    entry: ['src/index.ts', 'src/node.ts'],
    // import.meta.url in the CommonJS build (src/node uses it to resolve tfjs-backend-wasm).
    shims: true,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // The CLI's build (below) runs beside this one: its output is not this build's to remove.
    clean: ['!cli.js', '!cli.js.map'],
    target: 'es2022',
    // tfjs is a peer dependency: the app supplies exactly one copy of tfjs-core.
    external: [/^@tensorflow\//],
  },
  {
    // The `difflib` executable (package.json "bin"); its PNG/JPEG/GIF decoders stay out of dist/index.js.
    entry: { cli: 'src/cli/bin.ts' },
    format: ['esm'],
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    sourcemap: true,
    clean: false,
    target: 'es2022',
    external: [/^@tensorflow\//],
    esbuildPlugins: [cliUsesTheLibrary],
  },
]);
