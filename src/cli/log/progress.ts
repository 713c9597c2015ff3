import type { CliOutput } from './logger';

/** Seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * Progress of long work on stderr (stdout keeps improved-diffusion's log): `label
 * done/total (pct) elapsed, ETA …, extra`. On a terminal one line is rewritten in place;
 * otherwise a line is written at most every `intervalMs` and at the end.
 */
export class Progress {
  private readonly start = Date.now();
  private lastWrite = -Infinity;
  private open = false;

  /**
   * @param out - where stderr goes.
   * @param label - what is counted (`train`, `sample`, `nll`).
   * @param total - the count at the end, or null when the work has no end (training without a step limit).
   * @param options - `tty`: rewrite one line; `intervalMs`: least time between lines otherwise (default 5000).
   * @param startAt - the count already done before (a resumed run), left out of the rate.
   */
  constructor(
    private readonly out: CliOutput,
    private readonly label: string,
    private readonly total: number | null,
    private readonly options: { tty: boolean; intervalMs?: number },
    private readonly startAt = 0,
  ) {}

  /** Reports `done` (of `total`) with an optional note such as `loss 0.0312`. */
  update(done: number, note = ''): void {
    const now = Date.now();
    const finished = this.total !== null && done >= this.total;
    if (!finished && now - this.lastWrite < (this.options.tty ? 200 : (this.options.intervalMs ?? 5000))) return;
    this.lastWrite = now;
    const elapsed = (now - this.start) / 1000;
    const rate = (done - this.startAt) / Math.max(elapsed, 1e-9);
    const count = this.total === null ? `${done}` : `${done}/${this.total} (${Math.floor((100 * done) / this.total)}%)`;
    const eta = this.total === null || done === this.startAt ? '' : `, ETA ${formatDuration((this.total - done) / rate)}`;
    const line = `${this.label} ${count} ${formatDuration(elapsed)}${eta}${note ? `, ${note}` : ''}`;
    if (this.options.tty) {
      this.out.stderr(`\r\x1b[2K${line}`);
      this.open = true;
      if (finished) this.end();
    } else this.out.stderr(`${line}\n`);
  }

  /** Ends the rewritten line (on a terminal), so later output starts on a new one. */
  end(): void {
    if (this.open) this.out.stderr('\n');
    this.open = false;
  }
}
