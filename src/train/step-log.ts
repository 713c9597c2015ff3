/** Number of timestep quartiles logged, as improved-diffusion's `log_loss_dict`. */
const QUARTILES = 4;

/** One loss term of a step: its batch mean and its mean per quartile of t. */
export interface TermLog {
  /** Mean over the batch of the importance-weighted per-example values w_i·L_i. */
  mean: number;
  /**
   * Mean of w_i·L_i over the examples whose t lies in quartile q = ⌊4t/T⌋, for
   * q = 0…3; null where no example fell in the quartile.
   */
  quartiles: [number | null, number | null, number | null, number | null];
}

/** What {@link Trainer.step} reports: improved-diffusion's logged values for one step. */
export interface StepLog {
  /** Index of the step taken (0 for the first; counts on across a resume). */
  step: number;
  /** Examples trained on so far, (step + 1)·batchSize (`samples`). */
  samples: number;
  /** η used for this update (after warmup and annealing). */
  lr: number;
  /** ‖g‖₂ over every parameter, before clipping (`grad_norm`). */
  gradNorm: number;
  /** Whether the gradient was scaled down to `gradClipNorm`. */
  clipped: boolean;
  /** The objective (`loss`). */
  loss: TermLog;
  /** ‖target − prediction‖², for `mse`/`rescaled_mse` losses (`mse`). */
  mse?: TermLog;
  /** The L_vlb term, for learned variances with `mse`/`rescaled_mse` (`vb`). */
  vb?: TermLog;
  /** Number of batch examples in each quartile of t. */
  quartileCounts: [number, number, number, number];
}

/** Per-example values of one step, read back to the host. @internal */
export interface StepValues {
  step: number;
  samples: number;
  lr: number;
  gradNorm: number;
  clipped: boolean;
  numTimesteps: number;
  timesteps: ArrayLike<number>;
  weights: ArrayLike<number>;
  terms: { loss: ArrayLike<number>; mse?: ArrayLike<number>; vb?: ArrayLike<number> };
}

/** Builds the {@link StepLog} from a step's host values (float64 sums). @internal */
export function buildStepLog(values: StepValues): StepLog {
  const { timesteps, weights, numTimesteps } = values;
  const quartileOf = Array.from(timesteps, (t) => Math.floor((QUARTILES * t) / numTimesteps));
  const quartileCounts: StepLog['quartileCounts'] = [0, 0, 0, 0];
  for (const q of quartileOf) quartileCounts[q]! += 1;
  const term = (perExample: ArrayLike<number>): TermLog => {
    const sums = [0, 0, 0, 0];
    let total = 0;
    for (let i = 0; i < perExample.length; i++) {
      const weighted = perExample[i]! * weights[i]!;
      total += weighted;
      sums[quartileOf[i]!]! += weighted;
    }
    const quartiles = sums.map((s, q) => (quartileCounts[q] === 0 ? null : s / quartileCounts[q]!)) as TermLog['quartiles'];
    return { mean: total / perExample.length, quartiles };
  };
  const { mse, vb } = values.terms;
  return {
    step: values.step,
    samples: values.samples,
    lr: values.lr,
    gradNorm: values.gradNorm,
    clipped: values.clipped,
    loss: term(values.terms.loss),
    ...(mse ? { mse: term(mse) } : {}),
    ...(vb ? { vb: term(vb) } : {}),
    quartileCounts,
  };
}

/**
 * A step log as the flat key/value pairs improved-diffusion's logger prints: `step`,
 * `samples`, `lr`, `grad_norm`, each term (`loss`, `mse`, `vb`) and its quartiles
 * (`loss_q0` … `loss_q3`, present only for quartiles with examples).
 *
 * @example
 * ```ts
 * const trainer = new Trainer({ ..., onStep: (log) => console.log(logKeyValues(log)) });
 * ```
 */
export function logKeyValues(log: StepLog): Record<string, number> {
  const out: Record<string, number> = { step: log.step, samples: log.samples, lr: log.lr, grad_norm: log.gradNorm };
  for (const key of ['loss', 'mse', 'vb'] as const) {
    const term = log[key];
    if (!term) continue;
    out[key] = term.mean;
    term.quartiles.forEach((value, q) => {
      if (value !== null) out[`${key}_q${q}`] = value;
    });
  }
  return out;
}
