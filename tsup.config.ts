import { defineConfig } from 'tsup';

export default defineConfig({
  // difflib/node: Node-only helpers (Node built-ins, tfjs-backend-wasm); never in the main entry.
  entry: ['src/index.ts', 'src/node.ts'],
  // import.meta.url in the CommonJS build (src/node uses it to resolve tfjs-backend-wasm).
  shims: true,
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // tfjs is a peer dependency: the app supplies exactly one copy of tfjs-core.
  external: [/^@tensorflow\//],
});
