export { readTorchCheckpoint } from './read-torch-checkpoint';
export type { ReadTorchCheckpointOptions, TorchCheckpointArrays, TorchCheckpointTensor, TorchDtype, TorchStateDict } from './types';
