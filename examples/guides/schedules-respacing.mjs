// A block of docs/schedules.md ("Respacing"): the lines between the region markers, then its
// numbers as one `RESULT {json}` line.  node examples/guides/schedules-respacing.mjs
// #region respacing
import { GaussianDiffusion, namedBetaSchedule, spaceTimesteps } from 'difflib';

const diffusion = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', 1000), modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse' });
spaceTimesteps(1000, '10,15,20'); // sorted ascending, no repeats
const quadratic = diffusion.respace({ useTimesteps: Array.from({ length: 20 }, (_, i) => Math.round((i / 19) ** 2 * 999)) });
quadratic.timestepMap; // [0, 3, 11, 25, …, 897, 999]
// #endregion respacing

console.log(`RESULT ${JSON.stringify({
  sections: Array.from(spaceTimesteps(1000, '10,15,20')),
  quadraticTimestepMap: Array.from(quadratic.timestepMap),
  quadraticSteps: quadratic.numTimesteps,
})}`);
