// A block of docs/schedules.md ("Schedules as values"): the lines between the region markers, then
// its numbers as one `RESULT {json}` line.  node examples/guides/schedules-noise-schedule.mjs
// #region noise-schedule
import { GaussianDiffusion, NoiseSchedule } from 'difflib';

const base = NoiseSchedule.named('cosine', 4000);
const fast = base.respace('ddim50');   // 50 steps; fast.timestepMap = [0, 80, 160, …, 3920]
const snr = fast.snr();                // ᾱ/(1 − ᾱ) at each kept step, Float64Array
const abar = base.alphasCumprod();     // Float64Array of T
const diffusion = new GaussianDiffusion({ schedule: fast, modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse' });
// #endregion noise-schedule

console.log(`RESULT ${JSON.stringify({
  timestepMap: Array.from(fast.timestepMap),
  snr: Array.from(snr),
  abar: Array.from(abar),
  numTimesteps: diffusion.numTimesteps,
  diffusionTimestepMap: Array.from(diffusion.timestepMap),
})}`);
