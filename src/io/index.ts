export { readSafetensors } from './safetensors-read';
export { writeSafetensors } from './safetensors-write';
export type { SafetensorsArrays, SafetensorsDtype, SafetensorsFile, SafetensorsTensor } from './safetensors-format';
export { exportTorchStateDict, loadTorchStateDict, type TorchTensor } from './torch-state-dict';
export { loadModelFile, saveModelFile, type LoadModelFileOptions, type ModelFile, type ModelFileParts } from './model-file';
export {
  readTorchCheckpoint,
  type ReadTorchCheckpointOptions,
  type TorchCheckpointArrays,
  type TorchCheckpointTensor,
  type TorchDtype,
  type TorchStateDict,
} from './torch-checkpoint/index';
