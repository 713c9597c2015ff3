// The browser demo's backend rule, pure so that Node tests every branch
// (test/browser-demo-backend.test.ts): from what the page detected (backend-facts.mjs),
// which tfjs backend to start and why, in words the page shows.
//
// The rule: a backend the user named (?backend=) wins; else WebGPU on a GPU adapter, else
// WebGL on a GPU renderer; when both run on the CPU (SwiftShader, llvmpipe: rasterisers that
// emulate a GPU), the wasm backend (XNNPACK, SIMD, threads when the page is cross-origin
// isolated) is several times faster than either, so it is chosen.

/** The backends the demo bundles, by tfjs name. */
export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * CPU rasterisers that stand in for a GPU, as they name themselves in a WebGL renderer string
 * or a WebGPU adapter's info: Chromium's SwiftShader, Mesa's llvmpipe, softpipe and lavapipe,
 * Windows' Basic Render Driver, macOS' Apple Software Renderer.
 */
const SOFTWARE_RENDERERS = [
  ['SwiftShader', /swiftshader/i],
  ['llvmpipe', /llvmpipe/i],
  ['softpipe', /softpipe/i],
  ['lavapipe', /lavapipe/i],
  ['Microsoft Basic Render Driver', /basic render driver/i],
  ['Apple Software Renderer', /apple software renderer/i],
];

/**
 * The software renderer `text` names (e.g. 'SwiftShader' in
 * 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)'), or null.
 * @param {string} text - a WebGL renderer string or a WebGPU adapter's vendor, architecture, device and description.
 * @returns {string | null}
 */
export function softwareRendererIn(text) {
  for (const [name, pattern] of SOFTWARE_RENDERERS) if (pattern.test(text)) return name;
  return null;
}

/**
 * @typedef {object} BackendFacts What the page found out before starting a backend.
 * @property {string | null} override - the `?backend=` URL parameter; null or 'auto' lets the rule choose.
 * @property {{ name: string, isFallbackAdapter: boolean } | null} webgpu - the adapter
 *   `navigator.gpu.requestAdapter()` gave (`name`: its vendor, architecture, device and
 *   description, whatever the browser reveals), or null when there is none.
 * @property {{ renderer: string, majorPerformanceCaveat: boolean } | null} webgl - a WebGL
 *   context's renderer (`WEBGL_debug_renderer_info`'s UNMASKED_RENDERER_WEBGL where the browser
 *   allows it) and whether a context with `failIfMajorPerformanceCaveat` was refused (Chromium
 *   refuses it on SwiftShader); null when the browser gives no WebGL context.
 * @property {boolean} wasm - whether the browser has WebAssembly.
 * @property {boolean} crossOriginIsolated - `self.crossOriginIsolated`: SharedArrayBuffer, and
 *   with it the threaded wasm build, exists only then.
 */

/**
 * The backend to start and why, from the detected facts.
 * @param {BackendFacts} facts
 * @returns {{ backend: 'webgpu' | 'webgl' | 'wasm' | 'cpu', reason: string }}
 * @throws {Error} when `override` names a backend the demo does not have.
 * @example
 * chooseBackend({ override: null, webgpu: null, webgl: { renderer: 'ANGLE (… SwiftShader driver)', majorPerformanceCaveat: true },
 *   wasm: true, crossOriginIsolated: true });
 * // { backend: 'wasm', reason: 'the WebGL renderer is SwiftShader, a software renderer; no WebGPU adapter; threads: the page is cross-origin isolated' }
 */
export function chooseBackend({ override, webgpu, webgl, wasm, crossOriginIsolated }) {
  if (override != null && override !== 'auto') {
    if (!BACKENDS.includes(override)) throw new Error(`URL parameter backend must be auto or one of ${BACKENDS.join(', ')}, got ${override}`);
    return { backend: override, reason: `chosen with ?backend=${override}` };
  }
  const webgpuSoftware = webgpu && (webgpu.isFallbackAdapter ? 'a fallback (software) adapter' : softwareRendererIn(webgpu.name));
  if (webgpu && !webgpuSoftware) return { backend: 'webgpu', reason: `the WebGPU adapter (${webgpu.name || 'unnamed'}) is a GPU` };
  const webglSoftwareName = webgl && softwareRendererIn(webgl.renderer);
  const webglSoftware = webgl && (webglSoftwareName !== null || webgl.majorPerformanceCaveat);
  const noWebgpu = webgpu ? `the WebGPU adapter is ${webgpuSoftware}` : 'no WebGPU adapter';
  if (webgl && !webglSoftware) return { backend: 'webgl', reason: `the WebGL renderer (${webgl.renderer}) is a GPU; ${noWebgpu}` };
  const noWebgl = !webgl
    ? 'no WebGL'
    : webglSoftwareName
      ? `the WebGL renderer is ${webglSoftwareName}, a software renderer`
      : `the WebGL renderer (${webgl.renderer}) has a major performance caveat, the browser's mark of a software renderer`;
  const noGpu = `${noWebgl}; ${noWebgpu}`;
  if (wasm) {
    const threads = crossOriginIsolated
      ? 'threads: the page is cross-origin isolated'
      : 'one thread: the page is not cross-origin isolated (no COOP/COEP headers), so it has no SharedArrayBuffer';
    return { backend: 'wasm', reason: `${noGpu}; ${threads}` };
  }
  if (webgl) return { backend: 'webgl', reason: `${noGpu}; but no WebAssembly` };
  return { backend: 'cpu', reason: `${noGpu}; no WebAssembly` };
}

/**
 * The started backend in a few words: 'wasm (SIMD, 2 threads)', 'webgl', ….
 * @param {string} backend - the tfjs backend name.
 * @param {{ simd: boolean, threads: number } | null} [wasm] - for wasm: whether its SIMD
 *   build runs and the threads in its pool (`getThreadsCount()`).
 * @returns {string}
 * @example
 * backendLabel('wasm', { simd: true, threads: 2 }); // 'wasm (SIMD, 2 threads)'
 */
export function backendLabel(backend, wasm = null) {
  if (!wasm) return backend;
  return `${backend} (${wasm.simd ? 'SIMD' : 'no SIMD'}, ${wasm.threads} thread${wasm.threads === 1 ? '' : 's'})`;
}
