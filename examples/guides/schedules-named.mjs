// A block of docs/schedules.md ("Named schedules"): the lines between the region markers, then its
// numbers as one `RESULT {json}` line.  node examples/guides/schedules-named.mjs
// #region named
import { GaussianDiffusion, namedBetaSchedule } from 'difflib';

const betas = namedBetaSchedule('cosine', 4000);
const sd = namedBetaSchedule('scaled_linear', 1000, { betaStart: 0.00085, betaEnd: 0.012 });
const diffusion = new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse' });
diffusion.alphasCumprod[2000]; // ᾱ at the middle step, float64
// #endregion named

console.log(`RESULT ${JSON.stringify({
  cosineSteps: betas.length,
  numTimesteps: diffusion.numTimesteps,
  middleAlphaBar: diffusion.alphasCumprod[2000],
  sd: Array.from(sd),
})}`);
