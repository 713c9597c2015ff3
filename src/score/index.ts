export { annealedLangevinDynamics, type AnnealedLangevinOptions } from './annealed-langevin-dynamics';
export { denoisingScoreMatchingLoss, type DenoisingScoreMatchingOptions } from './denoising-score-matching';
export { geometricSigmas } from './geometric-sigmas';
export type { SigmaIndicesInput } from './noise-levels';
export type { ScoreModel } from './score-model';
