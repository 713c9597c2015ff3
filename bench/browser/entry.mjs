// The page side of the browser benchmark (bundled by bundle.mjs): starts a GPU backend and
// runs bench/measure.mjs on it. The Node side (measure-in-browser.mjs) calls the two
// functions set on `window` below and receives progress through `window.benchLog`.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import * as difflib from 'difflib';
import { CONFIGS } from '../configs.mjs';
import { measure } from '../measure.mjs';
import { assertBackendComputes } from './assert-computes.mjs';

/** Per started backend, what runs it: the WebGL renderer or the WebGPU adapter. */
const DESCRIBE = {
  webgl() {
    const gl = tf.backend().gpgpu.gl;
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
    return `tfjs-backend-webgl (WebGL ${tf.env().get('WEBGL_VERSION')}) on ${renderer}`;
  },
  async webgpu() {
    const info = await webgpuAdapterInfo();
    const named = [info.vendor, info.architecture, info.device].filter(Boolean).join(' / ') || 'an unnamed adapter';
    return `tfjs-backend-webgpu on ${named}${info.description ? ` (${info.description})` : ''}`;
  },
};

/** The WebGPU backend's adapter info (GPUDevice.adapterInfo; the adapter's own in older Chromium). */
const webgpuAdapterInfo = async () => tf.backend().device.adapterInfo ?? (await navigator.gpu.requestAdapter()).info;

/** Whether a WebGPU adapter is CPU emulation (Chromium's fallback adapter, SwiftShader). */
const isSoftwareAdapter = (info) => Boolean(info.isFallbackAdapter) || /swiftshader/i.test(`${info.architecture} ${info.description}`);

/** Messages of the WebGPU errors no one caught (an invalid pipeline, …): each means wrong numbers. */
const gpuErrors = [];

/** Collects the device's uncaught errors instead of Chromium printing each; logs the first. */
function watchGpuErrors() {
  tf.backend().device.addEventListener('uncapturederror', (event) => {
    event.preventDefault();
    const message = event.error.message.split('\n')[0];
    if (gpuErrors.length === 0) window.benchLog(`WebGPU error: ${message}`);
    gpuErrors.push(message);
  });
}

/**
 * Starts `backend` ('webgl' or 'webgpu') and checks it computes a known sum.
 * @param {string} backend
 * @param {boolean} [gpuOnly] - for webgpu: fail on a software (fallback or SwiftShader) adapter.
 * @returns {Promise<string>} what runs: the backend and the GPU renderer or adapter.
 */
window.benchStart = async (backend, gpuOnly = false) => {
  if (backend === 'webgpu' && !navigator.gpu) throw new Error('navigator.gpu is missing: this Chromium exposes no WebGPU');
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') failed: the backend did not initialise`);
  await tf.ready();
  if (backend === 'webgpu') watchGpuErrors();
  const described = await DESCRIBE[backend]();
  if (gpuOnly && isSoftwareAdapter(await webgpuAdapterInfo())) throw new Error(`only a software adapter: ${described}`);
  await assertBackendComputes(tf);
  return described;
};

/**
 * Runs measure() on the started backend with the named config; progress goes to window.benchLog.
 * @throws {Error} when WebGPU reported errors meanwhile: the numbers would be of work not done.
 */
window.benchMeasure = async (configName, options) => {
  const result = await measure({ tf, difflib, config: CONFIGS[configName], ...options, log: (line) => window.benchLog(line) });
  if (gpuErrors.length > 0) {
    throw new Error(`${gpuErrors.length} WebGPU errors during the measurement, so its numbers are not valid; the first: ${gpuErrors[0]}`);
  }
  return result;
};
