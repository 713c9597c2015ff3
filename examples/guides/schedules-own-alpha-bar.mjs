// A block of docs/schedules.md ("Your own ᾱ(t)"): the lines between the region markers, then its
// numbers as one `RESULT {json}` line.  node examples/guides/schedules-own-alpha-bar.mjs
// #region own-alpha-bar
import { betasForAlphaBar, cosineAlphaBar, NoiseSchedule } from 'difflib';

const cosine = betasForAlphaBar(1000, cosineAlphaBar); // = namedBetaSchedule('cosine', 1000)
// A cosine schedule with a larger offset s = 0.02 (more noise at the first steps: β_0 = 9.7e-5, not 4.1e-5):
const shifted = betasForAlphaBar(1000, (t) => Math.cos(((t + 0.02) / 1.02) * Math.PI / 2) ** 2);
const fromFunction = NoiseSchedule.fromAlphaBar(1000, cosineAlphaBar); // the same, as a NoiseSchedule
const fromBetas = NoiseSchedule.fromBetas(shifted); // any betas, each finite and in (0, 1]
// #endregion own-alpha-bar

console.log(`RESULT ${JSON.stringify({
  cosine: Array.from(cosine),
  shifted: Array.from(shifted),
  fromFunction: Array.from(fromFunction.betas),
  fromBetas: Array.from(fromBetas.betas),
})}`);
