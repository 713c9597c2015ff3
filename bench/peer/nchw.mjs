// difflib's batch and output in PyTorch's NCHW layout, for the ONNX model torch exported.

/** [B, H, W, C] row-major values → [B, C, H, W]. */
function toNchw(values, [B, H, W, C]) {
  const out = new Float32Array(values.length);
  for (let b = 0; b < B; b++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < C; c++) out[((b * C + c) * H + y) * W + x] = values[((b * H + y) * W + x) * C + c];
      }
    }
  }
  return out;
}

/**
 * The bench batch as the exported model takes it, and difflib's output on it (the check).
 * @returns {{ x: Float32Array, xShape: number[], t: Int32Array, expected: Float32Array }}
 */
export function nchwBatch(unet, batch) {
  const [B, H, W, C] = batch.x.shape;
  const output = unet.forward(batch.x, batch.t);
  const expected = toNchw(output.dataSync(), output.shape);
  output.dispose();
  return { x: toNchw(batch.x.dataSync(), batch.x.shape), xShape: [B, C, H, W], t: Int32Array.from(batch.t.dataSync()), expected };
}
