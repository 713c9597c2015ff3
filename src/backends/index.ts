export { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from './wasm-training-kernels';
