// The ONNX Runtime side of bench:peer: the same network, exported from PyTorch with
// torch.onnx.export (opset 17), run forward only (neither runtime trains) by
// onnxruntime-web's wasm build in Node, and by onnxruntime-node's native CPU build where it
// is installed (its install script fetches GPU libraries unless ONNXRUNTIME_NODE_INSTALL=skip,
// so it is not a dependency: install it yourself to include it).
import { timeRepeats } from '../stats.mjs';

/**
 * Times `session.run` on the batch and checks its output against difflib's.
 * @param {object} ort - the onnxruntime module.
 * @param {object} session - an InferenceSession over the exported model.
 * @param {{ x: Float32Array, xShape: number[], t: Int32Array, expected: Float32Array }} batch - NCHW input, timesteps, difflib's output (NCHW).
 * @param {{ warmup: number, repeats: number }} timing
 */
async function timeSession(ort, session, batch, timing, label) {
  const feeds = {
    x: new ort.Tensor('float32', batch.x, batch.xShape),
    t: new ort.Tensor('int64', BigInt64Array.from(batch.t, (v) => BigInt(v)), [batch.t.length]),
  };
  const out = (await session.run(feeds)).output.data;
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < out.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(out[i] - batch.expected[i]));
    scale = Math.max(scale, Math.abs(batch.expected[i]));
  }
  process.stderr.write(`${label}…\n`);
  const forward_ms = await timeRepeats(() => session.run(feeds), timing);
  return { forward_ms, check: { max_abs_error: maxAbs, output_scale: scale, max_rel_error: maxAbs / scale } };
}

/**
 * onnxruntime-web (wasm, SIMD, `threads` threads) and, if installed, onnxruntime-node
 * (native CPU), each forward on the batch of the exported model `model` (its bytes); a
 * runtime that cannot run is reported with its reason.
 * @returns {Promise<Array<{ runtime: string, threads: number, forward_ms?: object, check?: object, skipped?: string }>>}
 */
export async function runOnnxPeers(model, batch, timing, threads) {
  const runs = [];
  try {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.simd = true;
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
    runs.push({ runtime: 'onnxruntime-web (wasm)', threads, version: ort.env.versions?.web, ...(await timeSession(ort, session, batch, timing, 'onnxruntime-web forward')) });
    await session.release();
  } catch (e) {
    runs.push({ runtime: 'onnxruntime-web (wasm)', threads, skipped: e.message });
  }
  let ortNode = null;
  try {
    ortNode = await import('onnxruntime-node');
  } catch {
    runs.push({ runtime: 'onnxruntime-node (native CPU)', threads, skipped: 'not installed (ONNXRUNTIME_NODE_INSTALL=skip npm i -D onnxruntime-node to include it)' });
  }
  if (ortNode) {
    const session = await ortNode.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    runs.push({ runtime: 'onnxruntime-node (native CPU)', threads, ...(await timeSession(ortNode, session, batch, timing, 'onnxruntime-node forward')) });
  }
  return runs;
}
