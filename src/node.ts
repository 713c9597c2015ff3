/**
 * `difflib/node`: helpers that only make sense in Node. They load Node built-ins and
 * a tfjs backend, which the backend-agnostic main entry (`difflib`) never does.
 *
 * @module difflib/node
 */
export { registerThreadedWasmBackend, type ThreadedWasmOptions } from './node/threaded-wasm';
export { enableWasmRelaxedSimd } from './node/relaxed-simd';
