import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // tfjs is a peer dependency: the app supplies exactly one copy of tfjs-core.
  external: [/^@tensorflow\//],
});
