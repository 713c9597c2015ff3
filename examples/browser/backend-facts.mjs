// What the browser demo finds out before it starts a backend (the facts backend-choice.mjs
// decides on): the WebGPU adapter, the WebGL renderer, WebAssembly and cross-origin isolation.

/**
 * The adapter `navigator.gpu.requestAdapter()` gives, or null (no WebGPU, no adapter, or the
 * request failed). Chromium puts `isFallbackAdapter` on the adapter's info (older versions on
 * the adapter) and may hide the description; the name joins whatever it reveals.
 * @returns {Promise<{ name: string, isFallbackAdapter: boolean } | null>}
 */
async function webgpuAdapter() {
  if (!navigator.gpu) return null;
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    name: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' '),
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

/**
 * The WebGL renderer (unmasked where the browser allows it) and whether the browser refuses a
 * context that must not have a major performance caveat, or null without WebGL. Both probe
 * contexts are released at once (browsers cap the live contexts per page).
 * @returns {{ renderer: string, majorPerformanceCaveat: boolean } | null}
 */
function webglRenderer() {
  const open = (attributes) => document.createElement('canvas').getContext('webgl2', attributes) ?? document.createElement('canvas').getContext('webgl', attributes);
  const release = (gl) => gl?.getExtension('WEBGL_lose_context')?.loseContext();
  const gl = open({});
  if (!gl) return null;
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  release(gl);
  const fast = open({ failIfMajorPerformanceCaveat: true });
  release(fast);
  return { renderer, majorPerformanceCaveat: fast === null };
}

/**
 * The facts `chooseBackend` (backend-choice.mjs) takes, from this page.
 * @param {URLSearchParams} params - the page's URL parameters (`backend`).
 * @returns {Promise<import('./backend-choice.mjs').BackendFacts>}
 */
export async function detectBackendFacts(params) {
  return {
    override: params.get('backend'),
    webgpu: await webgpuAdapter(),
    webgl: webglRenderer(),
    wasm: typeof WebAssembly === 'object',
    crossOriginIsolated: self.crossOriginIsolated === true,
  };
}
