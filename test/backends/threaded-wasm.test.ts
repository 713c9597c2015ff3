// difflib/node's registerThreadedWasmBackend: tfjs-backend-wasm's threaded build in Node.
// Every test file runs in its own process, so the wasm backend this file starts (threaded)
// is the only one it sees; the single-threaded build is covered by the other suites.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers them all.
import '@tensorflow/tfjs-layers';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/backends/wasm-training-kernels';
import { kernelsFor } from '../../src/backends/wasm-gemm/module';
import { split } from '../../src/backends/wasm-gemm/thread-pool';
import { registerThreadedWasmBackend } from '../../src/node';
import { groupNorm } from '../../src/nn/group-norm';
import { useBackend } from '../backends';
import { expectDifflibError, expectNoLeak, relativeError, values } from '../helpers';

const FN = 'registerThreadedWasmBackend';
const THREADS = 2;
/** As in wasm-training-kernels.test.ts: float32 sums in another order, relative to the largest entry. */
const RTOL = 1e-5;

/** x [4, 16, 16, 32], w [3, 3, 32, 48], r [4, 16, 16, 48]: large enough that XNNPACK splits the work. */
function convNetInputs(): { x: tf.Tensor4D; w: tf.Tensor4D; r: tf.Tensor4D; q: tf.Tensor3D; k: tf.Tensor3D } {
  return {
    x: tf.tensor4d(values(4 * 16 * 16 * 32, 1), [4, 16, 16, 32]),
    w: tf.tensor4d(values(3 * 3 * 32 * 48, 2), [3, 3, 32, 48]),
    r: tf.tensor4d(values(4 * 16 * 16 * 48, 3), [4, 16, 16, 48]),
    q: tf.tensor3d(values(8 * 64 * 32, 4), [8, 64, 32]),
    k: tf.tensor3d(values(8 * 64 * 32, 5), [8, 64, 32]),
  };
}

/**
 * A conv and an attention product and their gradients: conv2d forward, the filter and
 * input gradients of Σ r·conv2d(x, w) (difflib's wasm training kernels), and q·kᵀ with
 * the gradient of Σ (q·kᵀ)² in q (BatchMatMul, difflib's kernel on XNNPACK GEMMs).
 */
function convAndAttention(): tf.Tensor[] {
  const { x, w, r, q, k } = convNetInputs();
  const y = tf.conv2d(x, w, 1, 'same');
  const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(r, tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, w]);
  const scores = tf.matMul(q, k, false, true);
  const dq = tf.grad((a) => tf.sum(tf.square(tf.matMul(a as tf.Tensor3D, k, false, true))))(q);
  tf.dispose([x, w, r, q, k]);
  return [y, dx!, dw!, scores, dq];
}

let expected: Float32Array[];

beforeAll(async () => {
  await useBackend('cpu');
  const outs = convAndAttention();
  expected = outs.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(outs);
});

describe('registerThreadedWasmBackend', () => {
  it('refuses a thread count it cannot honour, before changing anything', () => {
    const factory = tf.engine().registryFactory['wasm'];
    for (const threads of [0, -1, 1.5, 9, Number.NaN, '2' as never]) {
      const err = expectDifflibError(() => registerThreadedWasmBackend({ threads }), FN, 'options.threads', 'INVALID_ARGUMENT');
      expect(err.message).toContain('integer in [1, 8]');
    }
    expect(tf.engine().registryFactory['wasm']).toBe(factory);
  });

  it('starts the threaded build: XNNPACK reports the requested threads; its workers never hold Node open, its error handlers are gone', async () => {
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const portsBefore = ports();
    const errorListeners = () => process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');
    const listenersBefore = errorListeners();
    registerThreadedWasmBackend({ threads: THREADS });
    await useBackend('wasm');
    // The build's own handlers (which only rethrow) are gone: Node reports errors itself.
    expect(errorListeners()).toBe(listenersBefore);
    registerWasmTrainingKernels();
    expect(getThreadsCount()).toBe(THREADS);
    // emscripten refs each worker it starts a pthread on; ref'd, each shows as an active MessagePort.
    expect(ports()).toBe(portsBefore);
  });

  it('computes what the cpu backend computes: conv2d, its gradients and attention products', async () => {
    await tf.setBackend('wasm');
    expectNoLeak(() => convAndAttention());
    const outs = convAndAttention();
    const got = outs.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(outs);
    got.forEach((g, i) => {
      expect(g.length, `output ${i} size`).toBe(expected[i]!.length);
      expect(relativeError(g, expected[i]!), `output ${i} relative error`).toBeLessThanOrEqual(RTOL);
    });
  });

  it("difflib's own kernels split their rows between the calling thread and a worker thread of their own, on the shared heap", async () => {
    await tf.setBackend('wasm');
    const ports = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const kernels = kernelsFor(tf.backend())!;
    expect(kernels).not.toBeNull();
    expect(kernels.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    await vi.waitFor(() => expect(kernels.readyThreads()).toBe(THREADS), { timeout: 10_000 });
    // Record the row (or tile) range the calling thread computes itself.
    const original = kernels.exports;
    const local: Record<string, number[][]> = { conv2d: [], winograd_conv2d: [], winograd_filter_grad: [] };
    const recorded = (name: 'conv2d' | 'winograd_conv2d' | 'winograd_filter_grad') => (...args: number[]) => {
      local[name]!.push(args.slice(-2));
      return (original[name] as (...a: number[]) => void)(...args);
    };
    (kernels as { exports: unknown }).exports = {
      ...original,
      conv2d: recorded('conv2d'),
      winograd_conv2d: recorded('winograd_conv2d'),
      winograd_filter_grad: recorded('winograd_filter_grad'),
    };
    // Dilated: the im2col GEMM, 2·4·12·12·(3·3·64)·128 = 85 MFLOP. Undilated: Winograd, 4·8·8
    // tiles. Both enough for two shares.
    const x = tf.tensor4d(values(4 * 16 * 16 * 64, 6), [4, 16, 16, 64]);
    const w = tf.tensor4d(values(3 * 3 * 64 * 128, 7), [3, 3, 64, 128]);
    const dy = tf.tensor4d(values(4 * 16 * 16 * 128, 8), [4, 16, 16, 128]);
    const filterGradient = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 64, 128] }) as tf.Tensor;
    const convs = () => [tf.conv2d(x, w, 1, 'valid', 'NHWC', 2), tf.conv2d(x, w, 1, 'same'), filterGradient()];
    let got: Float32Array[];
    try {
      got = tf.tidy(() => convs().map((t) => Float32Array.from(t.dataSync())));
    } finally {
      (kernels as { exports: unknown }).exports = original;
    }
    await tf.setBackend('cpu');
    const want = tf.tidy(() => convs().map((t) => Float32Array.from(t.dataSync())));
    await tf.setBackend('wasm');
    tf.dispose([x, w, dy]);
    // 4·12·12 output pixels: this thread took the first half, the worker the rest.
    expect(local.conv2d).toEqual([[0, 288]]);
    // 256 tiles: this thread took the first share (whole tile blocks), the worker the rest.
    expect(local.winograd_conv2d).toHaveLength(1);
    const [begin, end] = local.winograd_conv2d![0]!;
    expect(begin).toBe(0);
    expect(end).toBeGreaterThan(64);
    expect(end).toBeLessThan(192);
    // The filter gradient's tiles too; each thread's partial dU is added into dw.
    expect(local.winograd_filter_grad).toHaveLength(1);
    expect(local.winograd_filter_grad![0]![0]).toBe(0);
    expect(local.winograd_filter_grad![0]![1]).toBeLessThan(256);
    got.forEach((g, i) => expect(relativeError(g, want[i]!), `conv ${i}`).toBeLessThanOrEqual(RTOL));
    // The kernels' workers are unref'd like XNNPACK's: they never hold Node open.
    expect(process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length).toBe(ports);
  });

  it('the fused GroupNorm + scale-shift + SiLU and its gradient split the batch with a worker, and equal cpu', async () => {
    await tf.setBackend('wasm');
    const kernels = kernelsFor(tf.backend())!;
    await vi.waitFor(() => expect(kernels.readyThreads()).toBe(THREADS), { timeout: 10_000 });
    const original = kernels.exports;
    const local: Record<string, number[][]> = { group_norm: [], group_norm_backward: [] };
    (kernels as { exports: unknown }).exports = {
      ...original,
      group_norm: (...args: number[]) => {
        local.group_norm!.push(args.slice(-2));
        return original.group_norm(...(args as Parameters<typeof original.group_norm>));
      },
      group_norm_backward: (...args: number[]) => {
        local.group_norm_backward!.push(args.slice(-2));
        return original.group_norm_backward(...(args as Parameters<typeof original.group_norm_backward>));
      },
    };
    // [8, 16, 16, 128]: 262k values, enough for two shares.
    const body = () =>
      tf.tidy(() => {
        const x = tf.add(tf.mul(tf.tensor4d(values(8 * 16 * 16 * 128, 8), [8, 16, 16, 128]), 2), 0.5);
        const gamma = tf.tensor1d(values(128, 9));
        const beta = tf.tensor1d(values(128, 10));
        const emb = tf.tensor2d(values(8 * 256, 11), [8, 256]);
        const r = tf.tensor4d(values(8 * 16 * 16 * 128, 12), [8, 16, 16, 128]);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, e: tf.Tensor) => groupNorm(a, g, b, 32, 1e-5, { scaleShift: e, activation: 'silu' });
        const grads = tf.grads((a, g, b, e) => tf.sum(tf.mul(r, f(a!, g!, b!, e!))))([x, gamma, beta, emb]);
        return [f(x, gamma, beta, emb), ...grads].map((t) => Float32Array.from(t.dataSync()));
      });
    let got: Float32Array[];
    try {
      got = body();
    } finally {
      (kernels as { exports: unknown }).exports = original;
    }
    // This thread took images [0, 4) of every call, the worker the rest.
    expect(local).toEqual({ group_norm: [[0, 4], [0, 4]], group_norm_backward: [[0, 4]] });
    await tf.setBackend('cpu');
    const want = body();
    await tf.setBackend('wasm');
    got.forEach((g, i) => expect(relativeError(g, want[i]!), `output ${i}`).toBeLessThanOrEqual(RTOL));
  });

  it('a worker thread that traps makes the kernel throw (after every share has finished) instead of hanging', async () => {
    await tf.setBackend('wasm');
    const kernels = kernelsFor(tf.backend())!;
    await vi.waitFor(() => expect(kernels.readyThreads()).toBe(THREADS), { timeout: 10_000 });
    const [work] = kernels.work(kernels.exports.gemm_work_bytes());
    const heap = kernels.memory.buffer.byteLength;
    // A 64×64 product with k = 1: the calling thread's rows read and write inside the
    // scratch block (their values do not matter), the worker's read at 4 GiB − 64 KiB, past
    // the end of the heap.
    const args = (share: number, begin: number, end: number): number[] => {
      const a = share === 0 ? work! : 2 ** 32 - 65536;
      return [64, 64, 1, a, 0, 0, work!, 0, 0, 0, work! + 4096, work!, 0, 1, begin, end];
    };
    expect(heap).toBeLessThan(2 ** 32 - 65536);
    // (The worker also prints its RuntimeError, from its own console.)
    expect(() => kernels.run('batch_matmul', args, 64, 4, 1e9)).toThrow(/batch_matmul failed on 1 worker thread/);
    // The worker is idle again and takes the next job.
    expect(kernels.readyThreads()).toBe(THREADS);
  });

  it('split: near-equal shares cut at multiples of the grain, covering every unit once', () => {
    expect(split(1024, 4, 2)).toEqual([0, 512, 1024]);
    expect(split(10, 4, 2)).toEqual([0, 4, 10]);
    expect(split(3, 1, 2)).toEqual([0, 1, 3]);
    for (const [units, grain, parts] of [[1, 4, 2], [97, 4, 3], [8, 1, 8], [1000, 16, 7]] as const) {
      const bounds = split(units, grain, parts);
      expect(bounds[0]).toBe(0);
      expect(bounds.at(-1)).toBe(units);
      bounds.slice(1, -1).forEach((b) => expect(b % grain === 0 || b === units).toBe(true));
      bounds.slice(1).forEach((b, i) => expect(b).toBeGreaterThanOrEqual(bounds[i]!));
    }
  });

  it('refuses once the wasm backend has started (its module cannot be swapped then)', () => {
    expectDifflibError(() => registerThreadedWasmBackend({ threads: 1 }), FN, 'options', 'UNSATISFIABLE');
    expect(getThreadsCount()).toBe(THREADS);
  });
});
