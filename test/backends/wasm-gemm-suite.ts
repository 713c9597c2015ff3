// The cases difflib's wasm kernels are checked on, in Node (test/backends/wasm-gemm-kernels.test.ts)
// and in Chromium (test/browser/wasm-gemm-kernels.test.ts): conv2d, its two gradients and the
// matrix products against the cpu backend's plain loops, with the kernel calls counted.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, onTestFinished } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/backends/wasm-training-kernels';
import { kernelsFor } from '../../src/backends/wasm-gemm/module';
import { groupNorm } from '../../src/nn/group-norm';
import { AdamW } from '../../src/train/adamw';
import { expectNoLeak, relativeError, values } from '../helpers';

/**
 * Relative to the largest |value| of the cpu result. Sums of up to ~2 300 products of
 * values in [-1, 1), accumulated in another order (and, in the relaxed build, fused):
 * a reordering moves a sum of n terms by ~√n·2⁻²⁴ of its magnitude typically, n·2⁻²⁴ at
 * worst (1.4e-4 for n = 2 304, far above anything seen); a wrong tap, pad, transpose or
 * block edge is an O(1) error. Observed: ≤ 1.5e-6.
 */
const RTOL = 1e-5;

function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** How often each export of the bound kernels ran during `body`. */
export function countKernelCalls(body: () => void): Record<string, number> {
  const kernels = kernelsFor(tf.backend())!;
  const original = kernels.exports;
  const calls: Record<string, number> = {};
  // The instance's exports object is frozen: count through a copy whose functions tally.
  const counted = Object.fromEntries(
    Object.entries(original).map(([name, value]) => [
      name,
      typeof value !== 'function'
        ? value
        : (...args: number[]) => {
            if (!/_(bytes|floats|offset|finish)$/.test(name)) calls[name] = (calls[name] ?? 0) + 1;
            return (value as (...a: number[]) => unknown)(...args);
          },
    ]),
  );
  (kernels as { exports: unknown }).exports = counted;
  try {
    body();
  } finally {
    (kernels as { exports: unknown }).exports = original;
  }
  return calls;
}

/** `body`'s outputs on cpu and on wasm with `flavour`, compared; wasm leaks nothing; the export counts. */
async function expectMatchesCpu(flavour: 'relaxed-simd' | 'simd128', label: string, body: () => tf.Tensor[]): Promise<Record<string, number>> {
  await tf.setBackend('cpu');
  const want = tf.tidy(body).map((t) => {
    const read = { shape: t.shape, data: Float32Array.from(t.dataSync()) };
    t.dispose();
    return read;
  });
  await tf.setBackend('wasm');
  registerWasmTrainingKernels({ gemm: flavour });
  expectNoLeak(() => body());
  let got: tf.Tensor[] = [];
  const calls = countKernelCalls(() => {
    got = body();
  });
  got.forEach((t, i) => {
    expect(t.shape, `${label}: output ${i} shape`).toEqual(want[i]!.shape);
    expect(relativeError(Float32Array.from(t.dataSync()), want[i]!.data), `${label}: output ${i}`).toBeLessThanOrEqual(RTOL);
  });
  tf.dispose(got);
  return calls;
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
}

/** Channels not a multiple of 4 or 8, batch 1, odd sizes, every padding kind, blocks cut by the edges. */
const CONV_CASES: ConvCase[] = [
  { name: '3x3 same, C=1 O=1, batch 1', x: [1, 6, 5, 1], filter: [3, 3, 1, 1], strides: 1, pad: 'same' },
  { name: '3x3 same, C=3 O=7 (RGB in)', x: [2, 9, 7, 3], filter: [3, 3, 3, 7], strides: 1, pad: 'same' },
  { name: '3x3 same, C=5 O=9', x: [1, 8, 8, 5], filter: [3, 3, 5, 9], strides: 1, pad: 'same' },
  { name: '3x3 stride 2 same, C=13 O=33', x: [3, 9, 11, 13], filter: [3, 3, 13, 33], strides: 2, pad: 'same' },
  { name: '3x3 stride 2 valid (the U-Net downsample), C=8 O=8', x: [2, 9, 9, 8], filter: [3, 3, 8, 8], strides: 2, pad: 'valid' },
  { name: '1x1, C=36 O=20', x: [2, 7, 5, 36], filter: [1, 1, 36, 20], strides: 1, pad: 'valid' },
  { name: '2x3 strides [2, 1], explicit uneven padding', x: [2, 7, 8, 6], filter: [2, 3, 6, 10], strides: [2, 1], pad: [[0, 0], [1, 2], [0, 3], [0, 0]] },
  { name: '5x5 numeric pad 1, stride 3', x: [1, 13, 10, 4], filter: [5, 5, 4, 12], strides: 3, pad: 1 },
  { name: '3x3 padding larger than the filter', x: [1, 5, 5, 2], filter: [3, 3, 2, 2], strides: 1, pad: [[0, 0], [4, 0], [1, 5], [0, 0]] },
  // The im2col GEMM (not 3×3): K = 5·3·40 = 600 > KC (256), M = 2·14·14 = 392 > MC (96): several blocks each way.
  { name: '5x3 same, K and M span several cache blocks', x: [2, 14, 14, 40], filter: [5, 3, 40, 24], strides: 1, pad: 'same' },
  // The same on Winograd.
  { name: '3x3 same, K and M span several cache blocks', x: [2, 14, 14, 40], filter: [3, 3, 40, 24], strides: 1, pad: 'same' },
  // N = 1 030 > NC (1 024).
  { name: '1x1, O spans two column blocks', x: [1, 3, 3, 5], filter: [1, 1, 5, 1030], strides: 1, pad: 'valid' },
  // Winograd F(2×2, 3×3) (3×3, stride 1; every case above with those runs on it too): odd sizes cut the last 2×2 tiles,
  // channels not a multiple of 4 (transform tails) or of 8 (panel padding), every padding kind,
  // tile counts past one tile block, and C > KC.
  { name: 'Winograd: 3x3 same, odd sizes, C=17 O=5, batch 1', x: [1, 7, 9, 17], filter: [3, 3, 17, 5], strides: 1, pad: 'same' },
  { name: 'Winograd: 3x3 valid, C=16 O=19', x: [2, 8, 11, 16], filter: [3, 3, 16, 19], strides: 1, pad: 'valid' },
  { name: 'Winograd: 3x3 explicit uneven padding, C=20 O=8', x: [2, 6, 7, 20], filter: [3, 3, 20, 8], strides: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { name: 'Winograd: 3x3 numeric pad 2, C=32 O=32', x: [1, 5, 5, 32], filter: [3, 3, 32, 32], strides: 1, pad: 2 },
  { name: 'Winograd: many tile blocks, C=64 O=64', x: [3, 20, 18, 64], filter: [3, 3, 64, 64], strides: 1, pad: 'same' },
  { name: 'Winograd: C > KC, O=3', x: [1, 4, 6, 300], filter: [3, 3, 300, 3], strides: 1, pad: 'same' },
];

/** Whether a conv runs on Winograd: 3×3, stride 1, dilation 1 (its input gradient also needs dx ≥ 4 channels). */
function winograd(c: ConvCase): boolean {
  const [kh, kw] = c.filter;
  return kh === 3 && kw === 3 && (c.strides === 1 || (Array.isArray(c.strides) && c.strides.every((v) => v === 1))) && (c.dilations ?? 1) === 1;
}

/** The exports the forward conv (twice: once under the tape) and both gradients call. */
function expectedConvCalls(c: ConvCase): Record<string, number> {
  const calls: Record<string, number> = {};
  const add = (name: string, n = 1) => (calls[name] = (calls[name] ?? 0) + n);
  if (winograd(c)) {
    add('winograd_filter', 2);
    add('winograd_conv2d', 2);
  } else {
    add('conv2d', 2);
  }
  if (winograd(c) && c.x[3] >= 4) {
    add('winograd_filter');
    add('winograd_conv2d');
  } else {
    add('conv2d_backprop_input');
  }
  add(winograd(c) ? 'winograd_filter_grad' : 'conv2d_backprop_filter');
  return calls;
}

const DILATED: ConvCase[] = [
  { name: '3x3 dilation 2 same', x: [2, 9, 9, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same', dilations: 2 },
  { name: '3x3 dilations [1, 3] valid', x: [1, 8, 12, 4], filter: [3, 3, 4, 6], strides: 1, pad: 'valid', dilations: [1, 3] },
];

interface MatMulCase {
  name: string;
  a: number[];
  b: number[];
}

/** [...batch, M, K] · [...batch, K, N] before transposes; odd sizes and cache-block edges. */
const MATMUL_CASES: MatMulCase[] = [
  { name: '1x1x1', a: [1, 1], b: [1, 1] },
  { name: 'odd sizes', a: [5, 3], b: [3, 7] },
  { name: 'K > KC, M > MC', a: [131, 300], b: [300, 17] },
  { name: 'N > NC', a: [9, 6], b: [6, 1100] },
  { name: 'batched, attention-shaped', a: [6, 33, 10], b: [6, 10, 33] },
  { name: 'rank 4 batch', a: [2, 3, 9, 5], b: [2, 3, 5, 11] },
  { name: 'b shared through a batch of 1', a: [4, 7, 6], b: [1, 6, 9] },
  { name: 'a shared, rank 2 against rank 3', a: [7, 6], b: [3, 6, 10] },
];

interface NormCase {
  name: string;
  x: number[];
  groups: number;
  /** Scale of the shift t, when the case has a scale-shift: large values saturate SiLU. */
  shift?: number;
}

/** Channels not a multiple of 4 or 8 (the kernels' scalar tails), batch 1, rank 2 to 4, SiLU saturated. */
const NORM_CASES: NormCase[] = [
  { name: 'ADM normalization(64), 32 groups', x: [3, 4, 4, 64], groups: 32 },
  { name: 'C=12, 4 groups', x: [2, 6, 5, 12], groups: 4 },
  { name: 'C=6, 3 groups, batch 1', x: [1, 7, 3, 6], groups: 3 },
  { name: 'C=13, 1 group, rank 3', x: [2, 9, 13], groups: 1 },
  { name: '[B, C], 2 groups', x: [4, 10], groups: 2 },
  { name: 'SiLU saturated both ways (|u| up to ~150)', x: [2, 3, 3, 8], groups: 4, shift: 150 },
];

function transposed(shape: number[], yes: boolean): number[] {
  if (!yes) return shape;
  const s = [...shape];
  [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1]!, s[s.length - 2]!];
  return s;
}

/** The conv and product cases above, in `flavour`, against the cpu backend (both backends registered). */
export function describeGemmKernels(flavour: 'relaxed-simd' | 'simd128'): void {
  describe(`${flavour}: conv2d and both gradients match cpu`, () => {
    for (const c of [...CONV_CASES, ...DILATED]) {
      it(c.name, async () => {
        const dilated = c.dilations !== undefined;
        const calls = await expectMatchesCpu(flavour, c.name, () =>
          tf.tidy(() => {
            const x = randomTensor(c.x, 1) as tf.Tensor4D;
            const w = randomTensor(c.filter, 2) as tf.Tensor4D;
            const conv = (a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D => tf.conv2d(a, b, c.strides, c.pad, 'NHWC', c.dilations ?? 1);
            const y = conv(x, w);
            // tfjs refuses the gradients of dilated convs itself.
            if (dilated) return [y];
            const r = randomTensor(y.shape, 3);
            const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(r, conv(a as tf.Tensor4D, b as tf.Tensor4D))))([x, w]);
            return [y, dx!, dw!];
          }),
        );
        expect(calls).toEqual(dilated ? { conv2d: 1 } : expectedConvCalls(c));
      });
    }

    it('FusedConv2D with a bias on Winograd, O not a multiple of 4', async () => {
      const calls = await expectMatchesCpu(flavour, 'fused winograd conv', () =>
        tf.tidy(() => {
          const x = randomTensor([2, 9, 6, 18], 20) as tf.Tensor4D;
          const filter = randomTensor([3, 3, 18, 11], 21) as tf.Tensor4D;
          const bias = randomTensor([11], 22) as tf.Tensor1D;
          return [tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias })];
        }),
      );
      expect(calls).toEqual({ winograd_filter: 1, winograd_conv2d: 1 });
    });

    it('FusedConv2D with a bias (what tfjs-layers runs) on the GEMM; with relu on wasm\'s own kernel', async () => {
      const calls = await expectMatchesCpu(flavour, 'fused conv', () =>
        tf.tidy(() => {
          const x = randomTensor([2, 7, 6, 5], 4) as tf.Tensor4D;
          // 2×3: the im2col GEMM (3×3 stride-1 convs run on Winograd, tested above).
          const filter = randomTensor([2, 3, 5, 11], 5) as tf.Tensor4D;
          const bias = randomTensor([11], 6) as tf.Tensor1D;
          return [
            tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias }),
            tf.fused.conv2d({ x, filter, strides: 2, pad: 'valid', bias, activation: 'relu' }),
          ];
        }),
      );
      expect(calls).toEqual({ conv2d: 1 });
    });
  });

  describe(`${flavour}: BatchMatMul and _FusedMatMul match cpu`, () => {
    for (const c of MATMUL_CASES) {
      it(`${c.name}: every transposeA/transposeB`, async () => {
        const calls = await expectMatchesCpu(flavour, c.name, () =>
          tf.tidy(() =>
            [false, true].flatMap((ta) =>
              [false, true].map((tb) => {
                const a = randomTensor(transposed(c.a, ta), 7);
                const b = randomTensor(transposed(c.b, tb), 8);
                return tf.matMul(a, b, ta, tb);
              }),
            ),
          ),
        );
        expect(calls).toEqual({ batch_matmul: 4 });
      });
    }

    it('_FusedMatMul with a bias (a dense layer) on the GEMM, its gradient too', async () => {
      // tfjs's per-kernel data-id check misfires on fused.matMul's own gradient op, whichever
      // kernel runs it ("4 data ids after fusedMatMul__op" with tfjs's kernels too); the
      // tensor count below still checks for leaks.
      tf.env().set('IS_TEST', false);
      onTestFinished(() => tf.env().set('IS_TEST', true));
      const calls = await expectMatchesCpu(flavour, 'dense', () =>
        tf.tidy(() => {
          const a = randomTensor([6, 13], 9) as tf.Tensor2D;
          const b = randomTensor([13, 10], 10) as tf.Tensor2D;
          const bias = randomTensor([10], 11) as tf.Tensor1D;
          const r = randomTensor([6, 10], 12);
          const [da, db] = tf.grads((p, q) => tf.sum(tf.mul(r, tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias }))))([a, b]);
          return [tf.fused.matMul({ a, b, bias }), da!, db!];
        }),
      );
      // The forward product twice (once under the gradient tape), then dy·bᵀ and aᵀ·dy; the
      // bias gradient is a sum over the rows.
      expect(calls).toEqual({ batch_matmul: 4, sum_rows: 1 });
    });
  });

  describe(`${flavour}: GroupNorm with scale-shift and SiLU, and its gradients, match cpu's composed ops`, () => {
    for (const c of NORM_CASES) {
      for (const scaleShift of [false, true]) {
        for (const activation of ['linear', 'silu'] as const) {
          if (c.shift !== undefined && !(scaleShift && activation === 'silu')) continue;
          it(`${c.name}, ${scaleShift ? 'scale-shift' : 'no scale-shift'}, ${activation}`, async () => {
            // tfjs's per-kernel data-id check counts what a custom gradient saves from inside
            // its forward pass (the statistics, on either path) as leaked; the tensor count
            // in expectMatchesCpu still checks for leaks.
            tf.env().set('IS_TEST', false);
            onTestFinished(() => tf.env().set('IS_TEST', true));
            const channels = c.x[c.x.length - 1]!;
            const calls = await expectMatchesCpu(flavour, c.name, () =>
              tf.tidy(() => {
                // An offset and a spread, so that centring and scaling both matter.
                const x = tf.add(tf.mul(randomTensor(c.x, 13), 3), 0.7);
                const gamma = tf.add(randomTensor([channels], 14), 1);
                const beta = tf.mul(randomTensor([channels], 15), 0.3);
                const emb = tf.concat([randomTensor([c.x[0]!, channels], 16), tf.mul(randomTensor([c.x[0]!, channels], 17), c.shift ?? 1)], 1);
                const r = randomTensor(c.x, 18);
                const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, e: tf.Tensor) =>
                  groupNorm(a, g, b, c.groups, 1e-5, { activation, ...(scaleShift ? { scaleShift: e } : {}) });
                const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(r, f(a, g, b, e)));
                const grads = scaleShift
                  ? tf.grads((a, g, b, e) => loss(a!, g!, b!, e!))([x, gamma, beta, emb])
                  : tf.grads((a, g, b) => loss(a!, g!, b!, emb))([x, gamma, beta]);
                return [f(x, gamma, beta, emb), ...grads];
              }),
            );
            // ∂γ and ∂β are sums over the batch of the backward kernel's per-image sums.
            expect(calls).toEqual({ group_norm: 2, group_norm_backward: 1, sum_rows: 2 });
          });
        }
      }
    }
  });

  describe(`${flavour}: Sum over leading axes matches cpu; other sums stay on wasm's kernel`, () => {
    const cases: Array<{ shape: number[]; axis: number | number[]; keepDims?: boolean; ours: boolean }> = [
      { shape: [2048, 384], axis: 0, ours: true }, // a dense layer's bias gradient
      { shape: [8, 6, 5, 13], axis: [0, 1, 2], ours: true }, // a conv's, with channels not a multiple of 4
      { shape: [3, 5, 7], axis: [1, 0], keepDims: true, ours: true },
      { shape: [4, 9, 2], axis: [-3, -2], ours: true },
      { shape: [1, 1, 3], axis: [0, 1], ours: true },
      { shape: [5, 7, 3], axis: [1], ours: false },
      { shape: [5, 7, 3], axis: [0, 2], ours: false },
      { shape: [5, 7], axis: [0, 1], ours: false },
    ];
    for (const c of cases) {
      it(`${JSON.stringify(c.shape)} over ${JSON.stringify(c.axis)}${c.keepDims ? ', keepDims' : ''}`, async () => {
        const calls = await expectMatchesCpu(flavour, 'sum', () =>
          tf.tidy(() => {
            const x = tf.add(randomTensor(c.shape, 19), 0.25);
            return [tf.sum(x, c.axis, c.keepDims), tf.sum(tf.cast(tf.mul(x, 100), 'int32'), c.axis, c.keepDims)];
          }),
        );
        expect(calls).toEqual(c.ours ? { sum_rows: 1 } : {});
      });
    }
  });

  describe(`${flavour}: AdamW's update in one kernel equals the composed ops on cpu, to the bit`, () => {
    for (const weightDecay of [0, 0.05]) {
      it(`three steps, odd sizes, weight decay ${weightDecay}`, async () => {
        const run = () => {
          const shapes = [[3, 3, 5, 7], [13], [1], [4, 6]];
          const variables = shapes.map((shape, i) => tf.tidy(() => tf.variable(randomTensor(shape, 30 + i), true, `adamw-${i}`)));
          const optimizer = new AdamW(variables, { learningRate: 3e-3, weightDecay });
          for (let step = 0; step < 3; step++) {
            const grads = Object.fromEntries(variables.map((v, i) => [v.name, randomTensor(v.shape, 40 + 10 * step + i)]));
            optimizer.applyGradients(grads);
            tf.dispose(Object.values(grads));
          }
          const state = optimizer.getState();
          const read = [...variables, ...state.firstMoments, ...state.secondMoments].map((t) => Float32Array.from(t.dataSync()));
          optimizer.dispose();
          tf.dispose(variables);
          return read;
        };
        await tf.setBackend('cpu');
        const want = run();
        await tf.setBackend('wasm');
        registerWasmTrainingKernels({ gemm: flavour });
        const before = tf.memory().numTensors;
        let got: Float32Array[] = [];
        const calls = countKernelCalls(() => {
          got = run();
        });
        expect(tf.memory().numTensors).toBe(before);
        expect(calls).toEqual({ adamw: 12 });
        got.forEach((g, i) => expect(Array.from(g), `tensor ${i}`).toEqual(Array.from(want[i]!)));
      });
    }
  });
}
