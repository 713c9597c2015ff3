export { AdamW, type AdamWOptions, type AdamWState } from './adamw';
export type { Checkpoint, CheckpointOrigin, CheckpointStore, CheckpointTensor } from './checkpoint-store';
export { DirectoryCheckpointStore } from './directory-checkpoint-store';
export { EMA } from './ema';
export { IOHandlerCheckpointStore } from './io-handler-checkpoint-store';
export { learningRateAt, type LearningRateSchedule } from './learning-rate';
export { logKeyValues, type StepLog, type TermLog } from './step-log';
export type { TrainableModel } from './trainable-model';
export { Trainer, type TrainerLoadOptions, type TrainerStepOptions } from './trainer';
export type { ScheduleSamplerName } from './resolve-sampler';
export { trainableUNet } from './trainable-unet';
export type {
  LabelDropout,
  ResolvedHyperparameters,
  TrainerHyperparameters,
  TrainerOptions,
} from './trainer-options';
