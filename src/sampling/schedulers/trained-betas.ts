import { DifflibError } from '../../errors';

/**
 * Refuses `trained_betas` whose length is not `num_train_timesteps` (diffusers would
 * index past their end, or never reach it), naming `options.trainedBetas`. Every
 * scheduler runs it when built.
 * @internal
 */
export function checkTrainedBetasLength(className: string, config: Readonly<Record<string, unknown>>): void {
  const betas = config.trained_betas as ArrayLike<number> | null | undefined;
  const T = config.num_train_timesteps as number;
  if (betas !== null && betas !== undefined && betas.length !== T) {
    throw new DifflibError('INVALID_ARGUMENT', className, 'options.trainedBetas', `must have num_train_timesteps (${T}) entries, got ${betas.length}`);
  }
}
