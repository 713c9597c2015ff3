// vite/client types declare import.meta.glob (not in tsconfig "types").
/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWebGL } from './setup-webgl';

describe('webgl backend in Chromium', () => {
  beforeAll(useWebGL);

  it('runs on WebGL2 with float32 render targets', () => {
    expect(tf.getBackend()).toBe('webgl');
    expect(tf.env().getNumber('WEBGL_VERSION')).toBe(2);
    expect(tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')).toBe(true);
    const gl = document.createElement('canvas').getContext('webgl2');
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    console.info('WebGL renderer:', ext ? gl!.getParameter(ext.UNMASKED_RENDERER_WEBGL) : 'n/a');
  });

  it('computes exp to float32 precision', async () => {
    const xs = [-10, -1.5, -1e-3, 0, 0.5, 1, 3.25, 20];
    const got = await tf.exp(tf.tensor1d(xs)).data();
    xs.forEach((x, i) => {
      const want = Math.exp(x);
      expect(Math.abs(got[i]! - want) / want).toBeLessThan(1e-6);
    });
  });
});

describe('golden references load in the browser', () => {
  it('reads test/fixtures/reference/losses.json via import.meta.glob', async () => {
    // Same pattern as the shared loader: resolved relative to this file.
    const refs = import.meta.glob('../fixtures/reference/*.json', { import: 'default' });
    const load = refs['../fixtures/reference/losses.json'];
    expect(load, 'losses.json not matched; is test/fixtures/reference complete?').toBeDefined();
    const losses = (await load!()) as { schema_version: number; group: string; cases: unknown[] };
    expect(losses.schema_version).toBe(1);
    expect(losses.group).toBe('losses');
    expect(losses.cases.length).toBeGreaterThan(0);
  });
});
