/**
 * `numpy.linspace(start, stop, num)` reproduced bit for bit: `y[i] = i * step + start`
 * with `step = (stop - start) / (num - 1)`, and the last entry set to `stop` exactly.
 * improved-diffusion's linear schedule is defined through it, so the rounding matters.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}
