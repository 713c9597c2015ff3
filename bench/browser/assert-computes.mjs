// A started backend's first sanity check, shared by the browser page and the Node webgpu
// starter: some GPU setups start without error and then compute nothing (WebGPU on the
// wrong Chromium flags reads back zeros), so the benchmark checks a known sum first.

/**
 * Adds two known tensors on the active backend and reads the sum back.
 * @param {typeof import('@tensorflow/tfjs-core')} tf
 * @throws {Error} when the backend returns anything but the right sum.
 */
export async function assertBackendComputes(tf) {
  const a = tf.tensor1d([1, 2, 3, 4]);
  const b = tf.tensor1d([10, 20, 30, 40]);
  const sum = tf.add(a, b);
  const got = Array.from(await sum.data());
  tf.dispose([a, b, sum]);
  const want = [11, 22, 33, 44];
  if (got.some((v, i) => v !== want[i])) {
    throw new Error(`${tf.getBackend()} started but computes wrong values: [1,2,3,4] + [10,20,30,40] read back as [${got.join(',')}]`);
  }
}
