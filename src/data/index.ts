export { checkDataRange, type DataRange } from './data-range';
export { HostDataset, type BatchesOptions, type DataBatch } from './host-dataset';
export {
  digitsFromMnist,
  digitsFromPixels,
  type DigitImageSize,
  type DigitPixelsOptions,
  type MnistDigitClass,
  type MnistDigitsOptions,
  type MnistModule,
} from './digits';
export { eightGaussians, type EightGaussiansOptions } from './eight-gaussians';
export { swissRoll, type SwissRollOptions } from './swiss-roll';
