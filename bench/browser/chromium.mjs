// Headless Chromium for the browser benchmark: which flags each GPU backend is tried
// with, and launching the browser with them. README.md says why these flags.
import { existsSync } from 'node:fs';

/** Flags of every launch: no sandbox (root in containers), no background traffic or first-run work. */
const BASE_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Per backend, the flag sets to try in order; the first under which the backend starts and
 * computes a known sum (on a GPU adapter, for a `gpuOnly` set) is measured.
 * @type {Record<string, Array<{ name: string, args: string[], gpuOnly?: boolean }>>}
 */
export const FLAG_SETS = {
  webgl: [
    // ANGLE on the system's OpenGL ES driver through EGL (Mesa llvmpipe without a GPU), faster
    // than the default on a CPU; Chromium blocklists llvmpipe, hence --ignore-gpu-blocklist.
    { name: 'ANGLE on the system GL driver', args: ['--use-angle=gles-egl', '--use-gl=angle', '--ignore-gpu-blocklist'] },
    // Chromium's own choice: on a machine without a GPU, ANGLE on SwiftShader.
    { name: "Chromium's default GL", args: [] },
  ],
  webgpu: [
    // Chromium's own adapter choice with WebGPU on Vulkan enabled; taken only if it is a GPU
    // (without one Chromium falls back to SwiftShader, which the next set asks for by name).
    { name: 'flags for a Vulkan GPU', args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan,WebGPU'], gpuOnly: true },
    // Dawn on SwiftShader Vulkan, by name: the software adapter. Some other flag sets were
    // seen to start WebGPU and read back zeros (not with Chromium 156 here); the known-sum check guards that.
    {
      name: 'SwiftShader Vulkan',
      args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan,WebGPU', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'],
    },
  ],
};

/**
 * Launches headless Chromium (CHROMIUM_PATH, else /usr/bin/chromium) with BASE_FLAGS and
 * `args`. Playwright gives each launch a fresh temporary profile (--user-data-dir) and
 * deletes it on close.
 * @param {string[]} args
 * @returns {Promise<import('playwright').Browser>}
 */
export async function launchChromium(args) {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: \`apt-get install chromium\`, or set CHROMIUM_PATH to a Chromium or Chrome binary`);
  }
  const { chromium } = await import('playwright');
  return chromium.launch({ executablePath, headless: true, args: [...BASE_FLAGS, ...args] });
}
