// difflib's own wasm kernels in Chromium, which runs relaxed SIMD by default: 'auto' picks the
// fused multiply-add build, and every case of test/backends/wasm-gemm-suite.ts matches the cpu
// backend. (This page is not cross-origin isolated, so tfjs-backend-wasm runs single-threaded;
// the threaded path is test/backends/threaded-wasm.test.ts in Node and the demo test in Chromium.)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/backends/wasm-training-kernels';
import { activeWasmGemmFlavour, supportedWasmGemmFlavours } from '../../src/backends/wasm-gemm/module';
import { describeGemmKernels } from '../backends/wasm-gemm-suite';

beforeAll(async () => {
  // Vite serves the repository; tfjs-backend-wasm fetches its .wasm builds from here.
  setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  expect(await tf.setBackend('wasm')).toBe(true);
  registerWasmTrainingKernels({ gemm: 'auto' });
});

describe('Chromium', () => {
  it("runs both builds; 'auto' picks relaxed SIMD", () => {
    expect(supportedWasmGemmFlavours()).toEqual(['relaxed-simd', 'simd128']);
    expect(activeWasmGemmFlavour()).toBe('relaxed-simd');
  });
});

describeGemmKernels('relaxed-simd');
describeGemmKernels('simd128');
