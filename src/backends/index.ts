export { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from './wasm-training-kernels';
export { registerCpuTrainingKernels, unregisterCpuTrainingKernels } from './cpu-training-kernels';
