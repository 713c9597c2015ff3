// Starting a tfjs backend inside Node for the benchmarks. Each starter resolves to a
// description of what runs, or throws an Error whose message says why it cannot start
// here (the benchmark then reports the backend as skipped, with that reason).
import { existsSync } from 'node:fs';
import { assertBackendComputes } from './browser/assert-computes.mjs';

/** Chromium's SwiftShader Vulkan driver: the software adapter Dawn accepts on a machine without a GPU. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * @typedef {(tf: typeof import('@tensorflow/tfjs-core'), difflib: typeof import('difflib'), options: { wasmThreads: number, wasmGemm: string }) => Promise<string>} Starter
 * @type {Record<string, Starter>}
 */
export const NODE_BACKENDS = {
  async cpu(tf, difflib) {
    await import('@tensorflow/tfjs-backend-cpu');
    await setBackend(tf, 'cpu');
    difflib.registerCpuTrainingKernels();
    return "tfjs-backend-cpu (plain JavaScript kernels) + difflib's conv kernels";
  },

  async wasm(tf, difflib, { wasmThreads, wasmGemm }) {
    const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
    const node = await import('difflib/node');
    // 1: tfjs-backend-wasm's own (single-threaded) build; more: its threaded build, through difflib/node.
    if (wasmThreads > 1) node.registerThreadedWasmBackend({ threads: wasmThreads });
    // difflib's own kernels at their fastest: relaxed SIMD's fused multiply-add (Node 20 needs the flag).
    node.enableWasmRelaxedSimd();
    await setBackend(tf, 'wasm');
    difflib.registerWasmTrainingKernels({ gemm: wasmGemm ?? 'auto' });
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = getThreadsCount();
    const build = threads > 1 ? `${threads} threads (difflib/node registerThreadedWasmBackend)` : 'single thread';
    const flavour = difflib.activeWasmGemmFlavour();
    const kernels = flavour === 'off' ? "XNNPACK's convs and products" : `difflib's own wasm kernels for convs and products (${flavour})`;
    return `tfjs-backend-wasm (${simd ? 'SIMD' : 'no SIMD'}, ${build}) + ${kernels} + difflib's training kernels`;
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

  async webgpu(tf) {
    const { gpu, adapter, note } = await dawnAdapter();
    exposeNavigatorGpu(gpu); // before the import: tfjs-backend-webgpu registers itself only if navigator.gpu exists
    await import('@tensorflow/tfjs-backend-webgpu');
    await setBackend(tf, 'webgpu');
    watchGpuErrors(tf.backend().device);
    await assertBackendComputes(tf);
    const { vendor, architecture, device, description } = adapter.info;
    const named = [vendor, architecture, device].filter(Boolean).join(' / ') || 'an unnamed adapter';
    return `tfjs-backend-webgpu on Dawn (webgpu package), ${named}${description ? ` (${description})` : ''}${note}`;
  },
};

/**
 * A WebGPU adapter from Dawn (the `webgpu` package). When Dawn finds none and the user has
 * not chosen a Vulkan driver, retries on Chromium's SwiftShader Vulkan: the Vulkan loader
 * reads VK_ICD_FILENAMES when Dawn creates its instance, so setting it here still counts.
 * @returns {Promise<{ gpu: GPU, adapter: GPUAdapter, note: string }>}
 */
async function dawnAdapter() {
  let webgpu;
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new Error(`the \`webgpu\` package (Dawn for Node) did not load (${e.code ?? e.message}); \`npm install\` installs it`);
  }
  Object.assign(globalThis, webgpu.globals); // GPUBufferUsage, GPUMapMode, … which tfjs-backend-webgpu reads as globals
  const request = (gpu) => gpu.requestAdapter({ powerPreference: 'high-performance' });
  let gpu = webgpu.create([]);
  let adapter = await request(gpu);
  let note = '';
  if (!adapter && process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    gpu = webgpu.create([]);
    adapter = await request(gpu);
    note = `; no GPU adapter, so on Chromium's SwiftShader Vulkan (VK_ICD_FILENAMES=${SWIFTSHADER_ICD} set by the bench)`;
  }
  if (!adapter) {
    throw new Error(
      'Dawn found no WebGPU adapter (its warnings above say why). It needs a Vulkan loader, libvulkan.so.1 ' +
        '(`apt-get install libvulkan1`, or Chromium\'s copy: LD_LIBRARY_PATH=/usr/lib/chromium, set before Node starts), ' +
        `and a Vulkan driver it accepts (without a GPU: VK_ICD_FILENAMES=${SWIFTSHADER_ICD}; Mesa's lavapipe is rejected)`,
    );
  }
  return { gpu, adapter, note };
}

/**
 * Reports the device's uncaught errors (an invalid pipeline, …), which mean the numbers are of
 * work not done: the first as it happens, the count at exit, and exit code 1.
 */
function watchGpuErrors(device) {
  let count = 0;
  device.addEventListener('uncapturederror', (event) => {
    event.preventDefault();
    if (count++ > 0) return;
    console.error(`bench: WebGPU error, so the webgpu/node numbers of this run are not valid: ${event.error.message.split('\n')[0]}`);
    process.exitCode = 1;
    process.once('exit', () => console.error(`bench: ${count} WebGPU errors during the webgpu/node run; its numbers are not valid`));
  });
}

/** Makes `gpu` the global `navigator.gpu` (Node 20 has no `navigator`; Node 21+ has one without `gpu`). */
function exposeNavigatorGpu(gpu) {
  if (globalThis.navigator) Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

async function setBackend(tf, name) {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed: the backend did not initialise`);
  await tf.ready();
}
