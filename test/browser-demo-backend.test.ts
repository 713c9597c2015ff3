// The browser demo's backend rule (examples/browser/backend-choice.mjs), in Node: every
// branch, from the facts a page would detect. test/browser-demo.test.ts checks in Chromium
// that the page detects them and applies the rule.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

interface BackendFacts {
  override: string | null;
  webgpu: { name: string; isFallbackAdapter: boolean } | null;
  webgl: { renderer: string; majorPerformanceCaveat: boolean } | null;
  wasm: boolean;
  crossOriginIsolated: boolean;
}
interface BackendChoice {
  backend: string;
  reason: string;
}
interface BackendChoiceModule {
  BACKENDS: string[];
  softwareRendererIn: (text: string) => string | null;
  chooseBackend: (facts: BackendFacts) => BackendChoice;
  backendLabel: (backend: string, wasm?: { simd: boolean; threads: number } | null) => string;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let rule: BackendChoiceModule;
beforeAll(async () => {
  // A plain-JS page module (no declarations): imported by URL and typed here.
  rule = (await import(pathToFileURL(path.join(root, 'examples/browser/backend-choice.mjs')).href)) as BackendChoiceModule;
});

// Renderer strings as browsers report them (UNMASKED_RENDERER_WEBGL).
const SWIFTSHADER = 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)';
const LLVMPIPE = 'ANGLE (Mesa/X.org, llvmpipe (LLVM 15.0.6 256 bits), OpenGL ES 3.2)';
const NVIDIA = 'ANGLE (NVIDIA Corporation, NVIDIA GeForce RTX 3060/PCIe/SSE2, OpenGL 4.5.0)';

const facts = (over: Partial<BackendFacts>): BackendFacts => ({
  override: null,
  webgpu: null,
  webgl: { renderer: SWIFTSHADER, majorPerformanceCaveat: false },
  wasm: true,
  crossOriginIsolated: true,
  ...over,
});

describe('softwareRendererIn', () => {
  it('names the CPU rasterisers in renderer and adapter strings, and no GPU', () => {
    expect(rule.softwareRendererIn(SWIFTSHADER)).toBe('SwiftShader');
    expect(rule.softwareRendererIn(LLVMPIPE)).toBe('llvmpipe');
    expect(rule.softwareRendererIn('google swiftshader')).toBe('SwiftShader');
    expect(rule.softwareRendererIn('Mesa softpipe')).toBe('softpipe');
    expect(rule.softwareRendererIn('llvmpipe lavapipe')).toBe('llvmpipe');
    expect(rule.softwareRendererIn('ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0)')).toBe('Microsoft Basic Render Driver');
    expect(rule.softwareRendererIn('Apple Software Renderer')).toBe('Apple Software Renderer');
    expect(rule.softwareRendererIn(NVIDIA)).toBeNull();
    expect(rule.softwareRendererIn('ANGLE (Apple, ANGLE Metal Renderer: Apple M2, Unspecified Version)')).toBeNull();
    expect(rule.softwareRendererIn('')).toBeNull();
  });
});

describe('chooseBackend', () => {
  it('takes the backend ?backend= names, whatever the hardware', () => {
    for (const backend of rule.BACKENDS) {
      expect(rule.chooseBackend(facts({ override: backend }))).toEqual({ backend, reason: `chosen with ?backend=${backend}` });
    }
    expect(rule.chooseBackend(facts({ override: 'webgl', webgl: null })).backend).toBe('webgl');
  });

  it('chooses by itself for ?backend=auto as without the parameter', () => {
    expect(rule.chooseBackend(facts({ override: 'auto' }))).toEqual(rule.chooseBackend(facts({ override: null })));
  });

  it('refuses a ?backend= it does not have, naming the ones it has', () => {
    expect(() => rule.chooseBackend(facts({ override: 'webgl2' }))).toThrow(/backend must be auto or one of webgpu, webgl, wasm, cpu, got webgl2/);
  });

  it('takes WebGPU on a GPU adapter, before WebGL on a GPU', () => {
    const choice = rule.chooseBackend(facts({ webgpu: { name: 'nvidia ampere', isFallbackAdapter: false }, webgl: { renderer: NVIDIA, majorPerformanceCaveat: false } }));
    expect(choice).toEqual({ backend: 'webgpu', reason: 'the WebGPU adapter (nvidia ampere) is a GPU' });
    // Chromium may hide every name: an adapter that is not the fallback one is still a GPU.
    expect(rule.chooseBackend(facts({ webgpu: { name: '', isFallbackAdapter: false } }))).toEqual({ backend: 'webgpu', reason: 'the WebGPU adapter (unnamed) is a GPU' });
  });

  it('takes WebGL on a GPU renderer when the WebGPU adapter is missing or software', () => {
    expect(rule.chooseBackend(facts({ webgl: { renderer: NVIDIA, majorPerformanceCaveat: false } }))).toEqual({
      backend: 'webgl',
      reason: `the WebGL renderer (${NVIDIA}) is a GPU; no WebGPU adapter`,
    });
    const fallback = rule.chooseBackend(facts({ webgpu: { name: 'google swiftshader', isFallbackAdapter: true }, webgl: { renderer: NVIDIA, majorPerformanceCaveat: false } }));
    expect(fallback).toEqual({ backend: 'webgl', reason: `the WebGL renderer (${NVIDIA}) is a GPU; the WebGPU adapter is a fallback (software) adapter` });
    const named = rule.chooseBackend(facts({ webgpu: { name: 'google swiftshader', isFallbackAdapter: false }, webgl: { renderer: NVIDIA, majorPerformanceCaveat: false } }));
    expect(named.reason).toBe(`the WebGL renderer (${NVIDIA}) is a GPU; the WebGPU adapter is SwiftShader`);
  });

  it('takes wasm with threads when WebGL is SwiftShader or llvmpipe and the page is cross-origin isolated', () => {
    expect(rule.chooseBackend(facts({}))).toEqual({
      backend: 'wasm',
      reason: 'the WebGL renderer is SwiftShader, a software renderer; no WebGPU adapter; threads: the page is cross-origin isolated',
    });
    const llvmpipe = rule.chooseBackend(facts({ webgl: { renderer: LLVMPIPE, majorPerformanceCaveat: false }, webgpu: { name: 'google swiftshader', isFallbackAdapter: true } }));
    expect(llvmpipe).toEqual({
      backend: 'wasm',
      reason: 'the WebGL renderer is llvmpipe, a software renderer; the WebGPU adapter is a fallback (software) adapter; threads: the page is cross-origin isolated',
    });
  });

  it('takes wasm when the browser marks WebGL with a major performance caveat, whatever the renderer is called', () => {
    const choice = rule.chooseBackend(facts({ webgl: { renderer: 'WebKit WebGL', majorPerformanceCaveat: true } }));
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/^the WebGL renderer \(WebKit WebGL\) has a major performance caveat, the browser's mark of a software renderer; no WebGPU adapter; threads/);
  });

  it('says wasm runs on one thread when the page is not cross-origin isolated', () => {
    const choice = rule.chooseBackend(facts({ crossOriginIsolated: false }));
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/; one thread: the page is not cross-origin isolated \(no COOP\/COEP headers\), so it has no SharedArrayBuffer$/);
  });

  it('takes wasm without WebGL', () => {
    expect(rule.chooseBackend(facts({ webgl: null }))).toEqual({ backend: 'wasm', reason: 'no WebGL; no WebGPU adapter; threads: the page is cross-origin isolated' });
  });

  it('falls back to software WebGL without WebAssembly, and to cpu without either', () => {
    expect(rule.chooseBackend(facts({ wasm: false }))).toEqual({
      backend: 'webgl',
      reason: 'the WebGL renderer is SwiftShader, a software renderer; no WebGPU adapter; but no WebAssembly',
    });
    expect(rule.chooseBackend(facts({ wasm: false, webgl: null }))).toEqual({ backend: 'cpu', reason: 'no WebGL; no WebGPU adapter; no WebAssembly' });
  });
});

describe('backendLabel', () => {
  it('adds the wasm build and its threads, and nothing for the GPU backends', () => {
    expect(rule.backendLabel('wasm', { simd: true, threads: 2 })).toBe('wasm (SIMD, 2 threads)');
    expect(rule.backendLabel('wasm', { simd: false, threads: 1 })).toBe('wasm (no SIMD, 1 thread)');
    expect(rule.backendLabel('webgl')).toBe('webgl');
    expect(rule.backendLabel('webgpu', null)).toBe('webgpu');
  });
});
