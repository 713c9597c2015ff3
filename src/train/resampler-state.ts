import { DifflibError } from '../errors';
import { LossSecondMomentResampler } from '../samplers/loss-second-moment-resampler';

/** The loss history of a {@link LossSecondMomentResampler}, as JSON numbers. @internal */
export interface ResamplerHistory {
  /** [T × historyPerTerm] recent losses per timestep, oldest first. */
  lossHistory: number[];
  /** How many losses each timestep holds. */
  lossCounts: number[];
}

/**
 * The resampler keeps its history in private fields and offers no accessor; a
 * checkpoint needs it to resume bit for bit. Until the sampler exposes its state,
 * this reaches the fields by name and fails loudly if they ever change.
 */
interface HistoryFields {
  lossHistory: Float64Array;
  lossCounts: Int32Array;
}

function fieldsOf(sampler: LossSecondMomentResampler): HistoryFields {
  const fields = sampler as unknown as Partial<HistoryFields>;
  if (!(fields.lossHistory instanceof Float64Array) || !(fields.lossCounts instanceof Int32Array)) {
    throw new DifflibError('UNSATISFIABLE', 'Trainer', 'scheduleSampler', 'LossSecondMomentResampler no longer keeps lossHistory/lossCounts; update src/train/resampler-state.ts');
  }
  return fields as HistoryFields;
}

/** Copies the sampler's history out. @internal */
export function readResamplerHistory(sampler: LossSecondMomentResampler): ResamplerHistory {
  const { lossHistory, lossCounts } = fieldsOf(sampler);
  return { lossHistory: Array.from(lossHistory), lossCounts: Array.from(lossCounts) };
}

/** Whether `history` fits the sampler (T and historyPerTerm). @internal */
export function fitsResampler(sampler: LossSecondMomentResampler, history: ResamplerHistory): boolean {
  const T = sampler.numTimesteps;
  const H = sampler.historyPerTerm;
  return (
    Array.isArray(history.lossHistory) &&
    Array.isArray(history.lossCounts) &&
    history.lossHistory.length === T * H &&
    history.lossCounts.length === T &&
    history.lossHistory.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    history.lossCounts.every((c) => Number.isInteger(c) && c >= 0 && c <= H)
  );
}

/** Replaces the sampler's history (check it with {@link fitsResampler} first). @internal */
export function writeResamplerHistory(sampler: LossSecondMomentResampler, history: ResamplerHistory): void {
  const fields = fieldsOf(sampler);
  fields.lossHistory.set(history.lossHistory);
  fields.lossCounts.set(history.lossCounts);
}
