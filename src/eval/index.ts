export { evaluateBpd, type BpdData, type BpdEvaluation, type BpdProgress, type EvaluateBpdOptions } from './evaluate-bpd';
