export { discretizedGaussianLogLikelihood, type DiscretizedGaussianParams } from './discretized-gaussian';
export { approxStandardNormalCdf } from './gaussian-cdf';
export { meanFlat } from './mean-flat';
export { normalKl, type TensorOrNumber } from './normal-kl';
