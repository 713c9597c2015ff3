// difflib's own wasm kernels (native/wasm-kernels, src/backends/wasm-gemm): conv2d, its two
// gradients and the matrix products, in both builds (relaxed SIMD and SIMD128), against the
// cpu backend's plain loops. This file's process turns relaxed SIMD on (Node 20 needs the V8
// flag); the other wasm suites run with whatever `'auto'` picks without it.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers them all.
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/backends/wasm-training-kernels';
import { activeWasmGemmFlavour, kernelsFor, supportedWasmGemmFlavours } from '../../src/backends/wasm-gemm/module';
import { enableWasmRelaxedSimd } from '../../src/node/relaxed-simd';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';
import { countKernelCalls, describeGemmKernels } from './wasm-gemm-suite';

let flavours: Array<'relaxed-simd' | 'simd128'>;

beforeAll(async () => {
  enableWasmRelaxedSimd();
  flavours = supportedWasmGemmFlavours();
  await useBackend('cpu');
  await useBackend('wasm');
  // The engine's check that a kernel leaves no backend data behind.
  tf.env().set('IS_TEST', true);
  registerWasmTrainingKernels({ gemm: 'auto' });
});

afterAll(() => {
  tf.env().set('IS_TEST', false);
});

describe('builds', () => {
  it("Node with enableWasmRelaxedSimd() runs both builds; 'auto' picks relaxed SIMD", () => {
    expect(flavours).toEqual(['relaxed-simd', 'simd128']);
    registerWasmTrainingKernels({ gemm: 'auto' });
    expect(activeWasmGemmFlavour()).toBe('relaxed-simd');
  });

  it("'off' sends every kernel to tfjs's (and difflib's composed) kernels", async () => {
    await tf.setBackend('wasm');
    registerWasmTrainingKernels({ gemm: 'off' });
    onTestFinished(() => registerWasmTrainingKernels({ gemm: 'auto' }));
    expect(activeWasmGemmFlavour()).toBe('off');
    expect(kernelsFor(tf.backend())).toBeNull();
  });

  it('refuses unknown options and builds before registering anything', () => {
    const fn = 'registerWasmTrainingKernels';
    expectDifflibError(() => registerWasmTrainingKernels({ gemm: 'fma' as never }), fn, 'options.gemm', 'UNKNOWN_OPTION');
    expectDifflibError(() => registerWasmTrainingKernels({ threads: 2 } as never), fn, 'options.threads', 'UNKNOWN_OPTION');
    expectDifflibError(() => registerWasmTrainingKernels('simd128' as never), fn, 'options', 'INVALID_ARGUMENT');
    expect(activeWasmGemmFlavour()).toBe('relaxed-simd');
  });
});

for (const flavour of ['relaxed-simd', 'simd128'] as const) describeGemmKernels(flavour);

describe('what the GEMM does not take stays on wasm\'s own kernels', () => {
  it('empty operands give wasm\'s results without touching the GEMM', async () => {
    await tf.setBackend('wasm');
    registerWasmTrainingKernels({ gemm: 'auto' });
    let shapes: number[][] = [];
    const calls = countKernelCalls(() => {
      tf.tidy(() => {
        const emptyConv = tf.conv2d(tf.zeros([0, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 3]) as tf.Tensor4D, 1, 'same');
        const emptyProduct = tf.matMul(tf.zeros([0, 3]), tf.ones([3, 4]));
        shapes = [emptyConv.shape, emptyProduct.shape];
      });
    });
    expect(shapes).toEqual([
      [0, 4, 4, 3],
      [0, 4],
    ]);
    expect(calls).toEqual({});
  });
});
