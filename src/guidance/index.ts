export { classifierFreeGuidance, type ClassifierFreeGuidanceOptions } from './classifier-free';
