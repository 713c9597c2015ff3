// Starting a tfjs backend inside Node for the benchmarks. Each starter resolves to a
// description of what runs, or throws an Error whose message says why it cannot start
// here (the benchmark then reports the backend as skipped, with that reason).

/**
 * @typedef {(tf: typeof import('@tensorflow/tfjs-core'), difflib: typeof import('difflib')) => Promise<string>} Starter
 * @type {Record<string, Starter>}
 */
export const NODE_BACKENDS = {
  async cpu(tf) {
    await import('@tensorflow/tfjs-backend-cpu');
    await setBackend(tf, 'cpu');
    return 'tfjs-backend-cpu (plain JavaScript kernels)';
  },

  async wasm(tf, difflib) {
    await import('@tensorflow/tfjs-backend-wasm');
    await setBackend(tf, 'wasm');
    difflib.registerWasmTrainingKernels();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return `tfjs-backend-wasm (XNNPACK${simd ? ', SIMD' : ''}, ${threads ? 'multithreaded' : 'single thread'}) + difflib's training kernels`;
  },

  async tensorflow(tf) {
    try {
      await import('@tensorflow/tfjs-node');
    } catch (e) {
      throw new Error(
        `@tensorflow/tfjs-node is not installed (${e.code ?? e.message}); \`npm install @tensorflow/tfjs-node\` needs to download libtensorflow, which this machine cannot reach`,
      );
    }
    await setBackend(tf, 'tensorflow');
    return 'tfjs-node (libtensorflow, native CPU kernels)';
  },
};

async function setBackend(tf, name) {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed: the backend did not initialise`);
  await tf.ready();
}
