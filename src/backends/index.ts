export { registerWasmTrainingKernels, unregisterWasmTrainingKernels, type WasmTrainingKernelsOptions } from './wasm-training-kernels';
export { activeWasmGemmFlavour, supportedWasmGemmFlavours, type WasmGemmFlavour } from './wasm-gemm/module';
export { registerCpuTrainingKernels, unregisterCpuTrainingKernels } from './cpu-training-kernels';
