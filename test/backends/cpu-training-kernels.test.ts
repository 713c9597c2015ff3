import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers them all.
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerCpuTrainingKernels, unregisterCpuTrainingKernels } from '../../src/backends/cpu-training-kernels';
import { useBackend } from '../backends';
import { expectIdempotentRegistration, expectNoLeak, relativeError, values } from '../helpers';

/**
 * Tolerances. u = 2⁻²⁴ (float32 unit roundoff). For one output entry, S = Σ|terms| of its
 * sum (computed by tfjs's own kernel on |inputs|) and n = the reduction length (kh·kw·C
 * for Conv2D, kh·kw·O for Conv2DBackpropInput, N·outH·outW for Conv2DBackpropFilter).
 * Products of float32 values are exact in float64.
 *
 * - Conv2D / FusedConv2D: tfjs accumulates in a Float32Array (a rounding per term, error
 *   ≤ n·u·S); ours in float64 (≤ n·2⁻⁵³·S) and rounds once (≤ u·S). Bound: (n + 2)·u·S.
 *   FusedConv2D then adds the bias and applies the activation, each rounded to float32 on
 *   both sides (every activation tfjs has is 1-Lipschitz, |PReLU/leaky slope| < 1 here):
 *   + 4u·(S + |bias| + 1).
 * - Conv2DBackpropInput / Conv2DBackpropFilter: tfjs and ours both accumulate in float64
 *   and round once to float32: (3 + n·2⁻²⁸)·u·S (two roundings, two float64 sums, slack).
 *
 * A wrong tap, phase, padding or channel is an O(1) error relative to S, so these bounds
 * separate bugs from rounding by orders of magnitude.
 */
const U = 2 ** -24;
const forwardBound = (n: number) => (n + 2) * U;
const gradientBound = (n: number) => (3 + n * 2 ** -28) * U;

/**
 * Gradients of a conv chain (tf.grad): the per-kernel differences above propagate
 * through four layers and relu's derivative; relative to the largest |value| of each
 * gradient, ≤ Σ_layers n·u ≈ (27 + 72 + 72 + 8)·6e-8 ≈ 1e-5 in the worst case (observed
 * ≤ 1e-6). A wrong kernel is an O(1) error.
 */
const RTOL_CHAIN = 1e-5;

const KERNELS = ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const;
type KernelName = (typeof KERNELS)[number];
/** tfjs-backend-cpu's own kernels, saved before we replace them. */
const ORIGINALS = {} as Record<KernelName, tf.KernelConfig>;

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const randomTensor = (shape: number[], seed: number) => tf.tensor(values(sizeOf(shape), seed), shape);

/** Runs a kernel through the engine (i.e. whatever is registered) and returns its values. */
function runKernel(name: KernelName, inputs: tf.NamedTensorMap, attrs: object): { shape: number[]; data: Float32Array } {
  const out = tf.engine().runKernel(name, inputs, attrs as never) as tf.Tensor;
  const read = { shape: out.shape, data: Float32Array.from(out.dataSync()) };
  out.dispose();
  return read;
}

/** Calls tfjs's own kernel function directly (the reference), leaving nothing behind. */
function runOriginal(name: KernelName, inputs: tf.NamedTensorMap, attrs: object): { shape: number[]; data: Float32Array } {
  const backend = tf.backend();
  const info = ORIGINALS[name].kernelFunc({ inputs, backend, attrs: attrs as never }) as tf.TensorInfo;
  const read = { shape: info.shape, data: Float32Array.from(backend.readSync(info.dataId) as Float32Array) };
  backend.disposeData(info.dataId);
  return read;
}

/**
 * Runs `body` with each original cpu kernel wrapped in a spy underneath our kernels, and
 * returns how often each original ran; everything is put back as it was afterwards.
 */
function originalCalls(body: () => void): Record<KernelName, number> {
  unregisterCpuTrainingKernels();
  const spies = {} as Record<KernelName, ReturnType<typeof vi.fn>>;
  for (const name of KERNELS) {
    const spy = vi.fn(ORIGINALS[name].kernelFunc);
    tf.unregisterKernel(name, 'cpu');
    tf.registerKernel({ ...ORIGINALS[name], kernelFunc: spy as unknown as tf.KernelFunc });
    spies[name] = spy;
  }
  registerCpuTrainingKernels();
  try {
    body();
  } finally {
    unregisterCpuTrainingKernels();
    for (const name of KERNELS) {
      tf.unregisterKernel(name, 'cpu');
      tf.registerKernel(ORIGINALS[name]);
    }
    registerCpuTrainingKernels();
  }
  return Object.fromEntries(KERNELS.map((name) => [name, spies[name].mock.calls.length])) as Record<KernelName, number>;
}

/** Largest |actual − expected| / bound over the entries (≤ 1 passes); NaN never passes. */
function worstRatio(actual: Float32Array, expected: Float32Array, bound: (i: number) => number): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    const ratio = diff === 0 ? 0 : diff / bound(i);
    if (!(ratio <= worst)) worst = Number.isNaN(ratio) ? Infinity : ratio;
  }
  return worst;
}

beforeAll(async () => {
  await useBackend('cpu');
  // The engine's per-kernel check that a kernel leaves no backend data behind.
  tf.env().set('IS_TEST', true);
  for (const name of KERNELS) ORIGINALS[name] = tf.getKernel(name, 'cpu');
  registerCpuTrainingKernels();
});

afterAll(() => {
  unregisterCpuTrainingKernels();
  tf.env().set('IS_TEST', false);
});

describe('registerCpuTrainingKernels', () => {
  it("replaces the four conv kernels of 'cpu' and no other backend's", () => {
    for (const name of KERNELS) {
      const ours = tf.getKernel(name, 'cpu');
      expect(ours, name).toBeDefined();
      expect(ours.kernelFunc, name).not.toBe(ORIGINALS[name].kernelFunc);
      expect(ours.backendName).toBe('cpu');
    }
  });

  it('is idempotent: a second call changes nothing and warns about nothing', () => {
    expectIdempotentRegistration(registerCpuTrainingKernels, 'cpu', KERNELS);
  });

  it("unregisterCpuTrainingKernels puts tfjs's own kernels back (twice is harmless), and registering again works", () => {
    const ours = KERNELS.map((n) => tf.getKernel(n, 'cpu'));
    unregisterCpuTrainingKernels();
    unregisterCpuTrainingKernels();
    for (const name of KERNELS) expect(tf.getKernel(name, 'cpu'), name).toBe(ORIGINALS[name]);
    registerCpuTrainingKernels();
    KERNELS.forEach((n, i) => {
      expect(tf.getKernel(n, 'cpu').kernelFunc).not.toBe(ORIGINALS[n].kernelFunc);
      expect(tf.getKernel(n, 'cpu').kernelFunc).not.toBe(ours[i]!.kernelFunc); // a fresh wrapper
    });
  });

  it('replaces whichever cpu kernel is registered (not only tfjs\'s) and puts that one back on unregister', () => {
    unregisterCpuTrainingKernels();
    const theirs: tf.KernelConfig = { ...ORIGINALS.Conv2D, kernelFunc: (args) => ORIGINALS.Conv2D.kernelFunc(args) };
    tf.unregisterKernel('Conv2D', 'cpu');
    tf.registerKernel(theirs);
    try {
      registerCpuTrainingKernels(); // replaces theirs (keeping it for unregister)...
      expect(tf.getKernel('Conv2D', 'cpu').kernelFunc).not.toBe(theirs.kernelFunc);
      unregisterCpuTrainingKernels(); // ...and puts theirs back, not tfjs's
      expect(tf.getKernel('Conv2D', 'cpu')).toBe(theirs);
    } finally {
      tf.unregisterKernel('Conv2D', 'cpu');
      tf.registerKernel(ORIGINALS.Conv2D);
      registerCpuTrainingKernels();
    }
  });

  it("a second copy of the module (ESM + CJS builds) recognises and can undo the first copy's kernels", async () => {
    const before = tf.getKernel('Conv2DBackpropFilter', 'cpu');
    vi.resetModules();
    const second = await import('../../src/backends/cpu-training-kernels');
    expect(second.registerCpuTrainingKernels).not.toBe(registerCpuTrainingKernels);
    second.registerCpuTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).toBe(before);
    second.unregisterCpuTrainingKernels();
    for (const name of KERNELS) expect(tf.getKernel(name, 'cpu')).toBe(ORIGINALS[name]);
    registerCpuTrainingKernels();
  });

  it("reads inputs from the cpu backend's storage as tfjs's kernels do, not through readSync (no readbacks)", () => {
    const backend = tf.backend();
    const readSync = vi.spyOn(backend, 'readSync');
    try {
      tf.dispose(
        tf.tidy(() => {
          const x = randomTensor([2, 6, 6, 3], 5) as tf.Tensor4D;
          const w1 = randomTensor([3, 3, 3, 3], 6) as tf.Tensor4D;
          const w2 = randomTensor([3, 3, 3, 4], 7) as tf.Tensor4D;
          const b = randomTensor([4], 8) as tf.Tensor1D;
          // Runs all four kernels: Conv2D, FusedConv2D and both gradients.
          return tf.grads((a: tf.Tensor, f: tf.Tensor) =>
            tf.sum(tf.fused.conv2d({ x: tf.conv2d(a as tf.Tensor4D, w1, 2, 'same'), filter: f as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'relu' })),
          )([x, w2]);
        }),
      );
      expect(readSync).not.toHaveBeenCalled();
    } finally {
      readSync.mockRestore();
    }
  });

  it('accepts bare TensorInfo inputs (a backend calling the kernel itself) and leaves them alive', () => {
    const x = randomTensor([1, 5, 5, 2], 1);
    const dy = randomTensor([1, 5, 5, 3], 2);
    const bare = (t: tf.Tensor): tf.TensorInfo => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
    const viaEngine = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor;
    const before = tf.memory().numTensors;
    const { kernelFunc } = tf.getKernel('Conv2DBackpropFilter', 'cpu');
    const info = kernelFunc({ inputs: { x: bare(x), dy: bare(dy) }, backend: tf.backend(), attrs: attrs as never }) as tf.TensorInfo;
    expect(Array.from(tf.backend().readSync(info.dataId) as Float32Array)).toEqual(Array.from(viaEngine.dataSync()));
    tf.backend().disposeData(info.dataId);
    expect(tf.memory().numTensors).toBe(before);
    expect(x.dataSync().length).toBe(50);
    tf.dispose([x, dy, viaEngine]);
  });
});

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const explicit = (top: number, bottom: number, left: number, right: number): Pad => [
  [0, 0],
  [top, bottom],
  [left, right],
  [0, 0],
];

/** [batch, height, width, in channels, out channels], cycled through the grid. */
const SIZES: ReadonlyArray<readonly [number, number, number, number, number]> = [
  [1, 5, 7, 1, 3],
  [2, 7, 5, 3, 8],
  [3, 6, 9, 8, 5],
  [2, 5, 5, 4, 4],
  [1, 9, 6, 5, 2],
  [3, 7, 7, 2, 7],
  [2, 8, 5, 6, 1],
];

/** Every filter size × stride × padding, on a varying input. */
const GRID: ConvCase[] = [];
for (const k of [1, 3, 4]) {
  for (const s of [1, 2]) {
    for (const padKind of ['same', 'valid', 'explicit'] as const) {
      const [n, h, w, c, o] = SIZES[GRID.length % SIZES.length]!;
      const pad: Pad = padKind !== 'explicit' ? padKind : k === 1 ? explicit(1, 0, 0, 2) : k === 3 ? explicit(1, 2, 0, 1) : explicit(2, 1, 3, 0);
      GRID.push({ name: `${k}x${k} stride ${s} ${padKind}, [${n},${h},${w},${c}] → ${o}`, x: [n, h, w, c], filter: [k, k, c, o], strides: s, pad });
    }
  }
}

const EXTRA_CASES: ConvCase[] = [
  { name: '3x3 strides [2, 1] same', x: [2, 7, 9, 3], filter: [3, 3, 3, 2], strides: [2, 1], pad: 'same' },
  { name: '3x3 numeric pad 1, stride 2, floor rounding', x: [2, 8, 8, 2], filter: [3, 3, 2, 3], strides: 2, pad: 1, dimRoundingMode: 'floor' },
  { name: '3x3 explicit padding larger than the filter', x: [1, 5, 5, 2], filter: [3, 3, 2, 2], strides: 1, pad: explicit(4, 0, 1, 5) },
  { name: '5x5 stride 3 valid', x: [2, 11, 11, 3], filter: [5, 5, 3, 2], strides: 3, pad: 'valid' },
  { name: '2x2 stride 2 valid (a U-Net downsample)', x: [2, 8, 6, 4], filter: [2, 2, 4, 4], strides: 2, pad: 'valid' },
  { name: 'channels not a multiple of 4: 13 → 7, stride 2', x: [2, 6, 5, 13], filter: [3, 3, 13, 7], strides: 2, pad: 'same' },
  // More pixels than one row block (48) and one filter-gradient chunk (128).
  { name: 'several cache blocks: [2,16,16,8] → 12', x: [2, 16, 16, 8], filter: [3, 3, 8, 12], strides: 1, pad: 'same' },
  { name: 'several cache blocks at stride 2: [3,15,13,6] 4x4 → 9', x: [3, 15, 13, 6], filter: [4, 4, 6, 9], strides: 2, pad: 'same' },
];

const ACTIVATION_CYCLE = ['relu', 'linear', 'elu', 'sigmoid', 'relu6', 'leakyrelu', 'prelu'] as const;

describe("the replaced kernels match tfjs-backend-cpu's own", () => {
  const worst = { Conv2D: 0, FusedConv2D: 0, Conv2DBackpropInput: 0, Conv2DBackpropFilter: 0 };

  [...GRID, ...EXTRA_CASES].forEach((c, index) => {
    it(c.name, () => {
      const x = randomTensor(c.x, 10 + index);
      const filter = randomTensor(c.filter, 20 + index);
      const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode };
      const convAttrs = { ...common, dilations: 1 };
      const yShape = runOriginal('Conv2D', { x, filter }, convAttrs).shape;
      const outChannels = c.filter[3];
      const dy = randomTensor(yShape, 30 + index);
      const activation = ACTIVATION_CYCLE[index % ACTIVATION_CYCLE.length]!;
      // Bias: one per channel, or (every third case) one value; PReLU slopes one per channel.
      const bias = randomTensor(index % 3 === 2 ? [1] : [outChannels], 40 + index);
      const alpha = tf.mul(randomTensor([outChannels], 50 + index), 0.5);
      const fusedInputs: tf.NamedTensorMap = { x, filter, bias, ...(activation === 'prelu' ? { preluActivationWeights: alpha } : {}) };
      const fusedAttrs = { ...convAttrs, activation, leakyreluAlpha: 0.2 };
      const dxAttrs = { ...common, inputShape: c.x };
      const dwAttrs = { ...common, filterShape: c.filter };

      const absX = tf.abs(x);
      const absFilter = tf.abs(filter);
      const absDy = tf.abs(dy);
      const [kh, kw, inC] = c.filter;
      const reductions = { forward: kh * kw * inC, dx: kh * kw * outChannels, dW: sizeOf(yShape.slice(0, 3)) };
      const sums = {
        forward: runOriginal('Conv2D', { x: absX, filter: absFilter }, convAttrs).data,
        dx: runOriginal('Conv2DBackpropInput', { dy: absDy, filter: absFilter }, dxAttrs).data,
        dW: runOriginal('Conv2DBackpropFilter', { x: absX, dy: absDy }, dwAttrs).data,
      };
      const biasValues = bias.dataSync();
      const biasAt = (i: number) => Math.abs(biasValues[biasValues.length === 1 ? 0 : i % outChannels]!);

      const checks: Array<[KernelName, tf.NamedTensorMap, object, (i: number) => number]> = [
        ['Conv2D', { x, filter }, convAttrs, (i) => forwardBound(reductions.forward) * sums.forward[i]!],
        [
          'FusedConv2D',
          fusedInputs,
          fusedAttrs,
          (i) => forwardBound(reductions.forward) * sums.forward[i]! + 4 * U * (sums.forward[i]! + biasAt(i) + 1),
        ],
        ['Conv2DBackpropInput', { dy, filter }, dxAttrs, (i) => gradientBound(reductions.dx) * sums.dx[i]!],
        ['Conv2DBackpropFilter', { x, dy }, dwAttrs, (i) => gradientBound(reductions.dW) * sums.dW[i]!],
      ];
      let results: Array<{ shape: number[]; data: Float32Array }> = [];
      const calls = originalCalls(() => {
        results = checks.map(([name, inputs, attrs]) => runKernel(name, inputs, attrs));
      });
      expect(calls, 'tfjs kernels that ran instead of ours').toEqual({
        Conv2D: 0,
        FusedConv2D: 0,
        Conv2DBackpropInput: 0,
        Conv2DBackpropFilter: 0,
      });
      checks.forEach(([name, inputs, attrs, bound], i) => {
        const want = runOriginal(name, inputs, attrs);
        const got = results[i]!;
        expect(got.shape, `${name} shape`).toEqual(want.shape);
        const ratio = worstRatio(got.data, want.data, bound);
        expect(ratio, `${name}: largest |ours − tfjs| / bound`).toBeLessThanOrEqual(1);
        worst[name] = Math.max(worst[name], ratio);
        expectNoLeak(() => tf.engine().runKernel(name, inputs, attrs as never) as tf.Tensor);
      });
      tf.dispose([x, filter, dy, bias, alpha, absX, absFilter, absDy]);
    });
  });

  afterAll(() => {
    // The largest error seen, as a fraction of its bound (for the record).
    console.log(`cpu conv kernels: worst |ours − tfjs| / bound ${JSON.stringify(worst)}`);
  });
});

describe("calls the kernels don't cover go to tfjs's own kernel, unchanged", () => {
  const x = () => randomTensor([2, 9, 8, 3], 61);
  const filter = () => randomTensor([3, 3, 3, 4], 62);
  const common = { strides: 1, pad: 'same', dimRoundingMode: undefined };

  const FALLBACKS: Array<{ name: string; kernel: KernelName; run: () => tf.Tensor }> = [
    {
      name: 'Conv2D with dilations 2',
      kernel: 'Conv2D',
      run: () => tf.conv2d(x() as tf.Tensor4D, filter() as tf.Tensor4D, 1, 'same', 'NHWC', 2),
    },
    {
      name: 'Conv2D on NCHW',
      kernel: 'Conv2D',
      run: () => tf.engine().runKernel('Conv2D', { x: x(), filter: randomTensor([3, 3, 9, 4], 63) }, { ...common, dataFormat: 'NCHW', dilations: 1 } as never) as tf.Tensor,
    },
    {
      name: 'FusedConv2D with dilations 2',
      kernel: 'FusedConv2D',
      run: () => tf.fused.conv2d({ x: x() as tf.Tensor4D, filter: filter() as tf.Tensor4D, strides: 1, pad: 'same', dilations: 2, bias: randomTensor([4], 64), activation: 'relu' }),
    },
    {
      name: 'FusedConv2D with a bias per pixel',
      kernel: 'FusedConv2D',
      run: () => tf.fused.conv2d({ x: x() as tf.Tensor4D, filter: filter() as tf.Tensor4D, strides: 1, pad: 'same', bias: randomTensor([9, 8, 4], 65), activation: 'elu' }),
    },
    {
      name: 'FusedConv2D with PReLU slopes per pixel',
      kernel: 'FusedConv2D',
      run: () =>
        tf.fused.conv2d({
          x: x() as tf.Tensor4D,
          filter: filter() as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          activation: 'prelu',
          preluActivationWeights: randomTensor([9, 8, 4], 66),
        }),
    },
    {
      name: 'FusedConv2D on NCHW',
      kernel: 'FusedConv2D',
      run: () =>
        tf.engine().runKernel('FusedConv2D', { x: x(), filter: randomTensor([3, 3, 9, 4], 67), bias: randomTensor([4], 68) }, {
          ...common,
          dataFormat: 'NCHW',
          dilations: 1,
          activation: 'relu',
        } as never) as tf.Tensor,
    },
    {
      name: 'Conv2DBackpropInput on NCHW',
      kernel: 'Conv2DBackpropInput',
      run: () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: randomTensor([2, 4, 9, 8], 69), filter: filter() }, {
          ...common,
          dataFormat: 'NCHW',
          inputShape: [2, 3, 9, 8],
        } as never) as tf.Tensor,
    },
    {
      name: 'Conv2DBackpropFilter on NCHW',
      kernel: 'Conv2DBackpropFilter',
      run: () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: randomTensor([2, 3, 9, 8], 70), dy: randomTensor([2, 4, 9, 8], 71) }, {
          ...common,
          dataFormat: 'NCHW',
          filterShape: [3, 3, 3, 4],
        } as never) as tf.Tensor,
    },
  ];

  for (const f of FALLBACKS) {
    it(`${f.name}: tfjs's kernel runs, and its numbers come back`, () => {
      const read = () => tf.tidy(() => Array.from(f.run().dataSync()));
      let ours: number[] = [];
      const calls = originalCalls(() => {
        ours = read();
      });
      expect(calls[f.kernel], `calls of tfjs's ${f.kernel}`).toBe(1);
      unregisterCpuTrainingKernels();
      let original: number[];
      try {
        original = read();
      } finally {
        registerCpuTrainingKernels();
      }
      expect(ours).toEqual(original);
      expectNoLeak(() => tf.tidy(() => f.run()));
    });
  }
});

describe('training through the replaced kernels', () => {
  /**
   * conv 3x3/1 same (3 → 8) → relu → fused conv 3x3/2 same + bias + relu (odd 9 → 5)
   * → conv 1x1 (8 → 8) → conv2dTranspose 3x3/2 back to 9x9 (whose gradients run Conv2D
   * and Conv2DBackpropFilter) → weighted sum. Gradients for the input, every filter and
   * the bias.
   */
  function chainGrads(): tf.Tensor[] {
    return tf.tidy(() => {
      const x = randomTensor([2, 9, 9, 3], 81) as tf.Tensor4D;
      const w1 = randomTensor([3, 3, 3, 8], 82) as tf.Tensor4D;
      const w2 = randomTensor([3, 3, 8, 8], 83) as tf.Tensor4D;
      const b2 = randomTensor([8], 84) as tf.Tensor1D;
      const w3 = randomTensor([1, 1, 8, 8], 85) as tf.Tensor4D;
      const w4 = randomTensor([3, 3, 4, 8], 86) as tf.Tensor4D;
      const weight = randomTensor([2, 9, 9, 4], 87);
      const loss = (...[x_, w1_, w2_, b2_, w3_, w4_]: tf.Tensor[]) => {
        const h1 = tf.relu(tf.conv2d(x_ as tf.Tensor4D, w1_ as tf.Tensor4D, 1, 'same'));
        const h2 = tf.fused.conv2d({ x: h1, filter: w2_ as tf.Tensor4D, strides: 2, pad: 'same', bias: b2_, activation: 'relu' });
        const h3 = tf.conv2d(h2, w3_ as tf.Tensor4D, 1, 'valid');
        const h4 = tf.conv2dTranspose(h3, w4_ as tf.Tensor4D, [2, 9, 9, 4], 2, 'same');
        return tf.sum(tf.mul(h4, weight));
      };
      const inputs = [x, w1, w2, b2, w3, w4];
      return [loss(...inputs), ...tf.grads(loss)(inputs)];
    });
  }

  it("tf.grads of a conv chain equals the gradients tfjs's own kernels give, leaking nothing", () => {
    const read = (ts: tf.Tensor[]) => {
      const out = ts.map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
      tf.dispose(ts);
      return out;
    };
    let ours: ReturnType<typeof read> = [];
    const calls = originalCalls(() => {
      ours = read(chainGrads());
    });
    expect(calls).toEqual({ Conv2D: 0, FusedConv2D: 0, Conv2DBackpropInput: 0, Conv2DBackpropFilter: 0 });
    unregisterCpuTrainingKernels();
    let original: ReturnType<typeof read>;
    try {
      original = read(chainGrads());
    } finally {
      registerCpuTrainingKernels();
    }
    let worst = 0;
    original.forEach((want, i) => {
      expect(ours[i]!.shape).toEqual(want.shape);
      const err = relativeError(ours[i]!.data, want.data);
      expect(err, `output ${i}`).toBeLessThanOrEqual(RTOL_CHAIN);
      worst = Math.max(worst, err);
    });
    console.log(`conv chain gradients: worst relative error ${worst.toExponential(1)}`);
    expectNoLeak(() => chainGrads());
  });

  it('a tfjs-layers conv model (fused conv + bias + relu, strided conv, dense) gets the same gradients', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'elu' }),
        tfl.layers.conv2d({ filters: 4, kernelSize: 1 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 5 }),
      ],
    });
    const weights = model.getWeights().map((w, i) => randomTensor(w.shape, 90 + i));
    model.setWeights(weights);
    tf.dispose(weights);
    const step = () =>
      tf.tidy(() => {
        const x = randomTensor([2, 8, 8, 3], 100);
        const target = randomTensor([2, 5], 101);
        const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.squaredDifference(model.predict(x) as tf.Tensor, target)) as tf.Scalar,
          variables,
        );
        return [value, ...variables.map((v) => grads[v.name]!)].map((t) => Float32Array.from(t.dataSync()));
      });
    const ours = step();
    unregisterCpuTrainingKernels();
    let original: Float32Array[];
    try {
      original = step();
    } finally {
      registerCpuTrainingKernels();
    }
    original.forEach((want, i) => expect(relativeError(ours[i]!, want), `output ${i}`).toBeLessThanOrEqual(RTOL_CHAIN));
    model.dispose();
  });
});
