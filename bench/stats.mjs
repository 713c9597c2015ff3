// Timing helpers shared by the benchmarks (Node and browser): warm-up, repeats, median and spread.

/**
 * Runs `fn` `warmup` times untimed, then `repeats` times timed.
 * @param {() => Promise<unknown> | unknown} fn - one measured unit of work; must finish
 *   its device work before resolving (e.g. await a readback).
 * @returns {Promise<Summary>} milliseconds per call.
 */
export async function timeRepeats(fn, { warmup = 2, repeats = 5 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const samples = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}

/**
 * @typedef {{ median: number, min: number, max: number, p25: number, p75: number, n: number, samples: number[] }} Summary
 * @param {number[]} samples
 * @returns {Summary}
 */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => {
    const i = (sorted.length - 1) * q;
    const lo = Math.floor(i);
    return sorted[lo] + (sorted[Math.ceil(i)] - sorted[lo]) * (i - lo);
  };
  return { median: at(0.5), min: sorted[0], max: sorted.at(-1), p25: at(0.25), p75: at(0.75), n: sorted.length, samples };
}
