// The 8-Gaussian mixture of examples/toy2d.mjs and what is known about it in closed form:
// its exact denoiser, as a model for a GaussianDiffusion (ε and the learned-range v) and for
// a diffusers-style scheduler (ε at the scheduler's own, possibly fractional, timesteps), and
// scores of a point cloud against the exact distribution. Used by examples/fast-sampling.mjs
// and examples/scheduler-comparison.mjs.
//
// The data: modes c_k = 0.8·(cos 2πk/8, sin 2πk/8), each N(c_k, s² I). With the VP noising
// x_t = α x_0 + σ ε (α = √ᾱ, σ = √(1 − ᾱ)), x_t | k ~ N(α c_k, v I), v = α² s² + σ², so
//
//   w_k(x_t) = softmax_k(α x_t·c_k / v)          (all |c_k| equal),
//   E[x_0 | x_t] = (α s²/v) x_t + (σ²/v) Σ_k w_k c_k,
//   Var[x_0 | x_t] = s² σ²/v + (σ²/v)² (Σ_k w_k c_k² − (Σ_k w_k c_k)²)    (per coordinate),
//
// and the ideal ε-prediction is ε̂ = (x_t − α E[x_0 | x_t])/σ: no network is trained, so every
// difference between samplers is the sampler's own error.
import * as tf from '@tensorflow/tfjs-core';

/** Number of modes. */
export const K = 8;
/** Radius of the circle the modes sit on. */
export const RADIUS = 0.8;
/** The mode centres c_k, [K][2]. */
export const CENTERS = Array.from({ length: K }, (_, k) => [RADIUS * Math.cos((2 * Math.PI * k) / K), RADIUS * Math.sin((2 * Math.PI * k) / K)]);

/**
 * The posterior of x_0 given x_t [B, 2] at noise level (α, σ) ([B, 1] tensors each), for
 * modes of std `s`: `{ x0, eps, varX0 }` = E[x_0 | x_t], ε̂ and Var[x_0 | x_t], each [B, 2].
 * Call it inside tf.tidy.
 */
function posterior(x, a, sg, s, centers, centersSq) {
  const v = tf.add(tf.mul(tf.square(a), s * s), tf.square(sg));
  const w = tf.softmax(tf.div(tf.mul(a, tf.matMul(x, centers, false, true)), v)); // [B, K]
  const meanC = tf.matMul(w, centers); // Σ_k w_k c_k, [B, 2]
  const noiseShare = tf.div(tf.square(sg), v); // σ²/v = 1 − α² s²/v
  const x0 = tf.add(tf.mul(tf.div(tf.mul(a, s * s), v), x), tf.mul(noiseShare, meanC));
  const eps = tf.div(tf.sub(x, tf.mul(a, x0)), sg);
  const varX0 = tf.add(tf.mul(s * s, noiseShare), tf.mul(tf.square(noiseShare), tf.sub(tf.matMul(w, centersSq), tf.square(meanC))));
  return { x0, eps, varX0 };
}

/** The centres as tensors, kept until `dispose`. */
function centerTensors() {
  const centers = tf.tensor2d(CENTERS.flat(), [K, 2]);
  return { centers, centersSq: tf.square(centers) };
}

/**
 * The exact model of the mixture with modes of std `s`, for the unrespaced `base`
 * GaussianDiffusion (a respaced process calls it with the original timesteps): ε̂ and the
 * learned-range v such that the reverse variance exp(frac·log β_t + (1 − frac)·log β̃_t),
 * frac = (v + 1)/2, equals the variance of the true q(x_{t−1} | x_t):
 * Σ = β̃_t + coef1_t²·Var[x_0 | x_t]. So frac = log(1 + (coef1_t²/β̃_t)·Var)/log(β_t/β̃_t),
 * with both logs formed so that float32 keeps them accurate where β̃_t ≈ β_t (late steps) —
 * that matters once a respaced process reads the same v against its own, much wider,
 * [β̃, β]. frac lies in [0, 1] where Var[x_0 | x_t] ≤ 1 − ᾱ_t (β_t − β̃_t = coef1_t²·(1 − ᾱ_t));
 * between two modes at low noise it is larger, and v goes above 1, which learned_range reads
 * as it is (no clamp). At step 0 (β̃_0 = 0, its log clipped to log β̃_1) Σ = coef1_0²·Var.
 *
 * @returns {{ model: (x: tf.Tensor, t: tf.Tensor1D) => tf.Tensor, dispose: () => void }} the
 *   model: x_t [B, 2] and t [B] (int32) → [B, 4]: ε̂, then v.
 */
export function exactMixtureModel(base, s) {
  const f32 = (values) => tf.tensor1d(Float32Array.from(values));
  const alpha = f32(base.sqrtAlphasCumprod);
  const sigma = f32(base.sqrtOneMinusAlphasCumprod);
  // β̃_t as the process clips it (β̃_1 at t = 0, where no noise is added anyway).
  const clippedPosterior = base.posteriorLogVarianceClipped.map(Math.exp);
  const gainOverPosterior = f32(base.posteriorMeanCoef1.map((c, i) => (c * c) / clippedPosterior[i]));
  const logRatio = f32(base.logBetas.map((logBeta, i) => logBeta - base.posteriorLogVarianceClipped[i]));
  const firstStep = tf.tensor1d(Array.from(base.betas, (_, i) => i === 0), 'bool');
  const { centers, centersSq } = centerTensors();
  const model = (x, t) =>
    tf.tidy(() => {
      const at = (table) => tf.reshape(tf.gather(table, t), [-1, 1]); // [B, 1]
      const { eps, varX0 } = posterior(x, at(alpha), at(sigma), s, centers, centersSq);
      const scaledVar = tf.mul(at(gainOverPosterior), varX0); // coef1²·Var/β̃ (clipped β̃)
      const logSigmaOverPosterior = tf.where(at(firstStep), tf.log(scaledVar), tf.log1p(scaledVar)); // log(Σ/β̃)
      const frac = tf.div(logSigmaOverPosterior, at(logRatio));
      return tf.concat([eps, tf.sub(tf.mul(2, frac), 1)], 1); // [B, 4]: ε, then v
    });
  return { model, dispose: () => tf.dispose([alpha, sigma, gainOverPosterior, logRatio, firstStep, centers, centersSq]) };
}

/**
 * The noise level a discrete-time model assigns to a (possibly fractional) timestep t of a
 * diffusers scheduler whose training table is `alphasCumprod` (float32, ᾱ_0 … ᾱ_{T−1}):
 *
 * - integer t: ᾱ(t) = alphasCumprod[t], exactly the scheduler's own value;
 * - fractional t (sigma-space schedulers: Euler and Heun's `linspace` timesteps, every
 *   Karras-σ timestep): the inverse of diffusers' σ → t map (`_sigma_to_t`), which puts t
 *   between its two neighbouring training steps by linear interpolation of log σ, with
 *   σ_t = √((1 − ᾱ_t)/ᾱ_t). So with i = ⌊t⌋, w = t − i:
 *
 *     log σ(t) = (1 − w)·log σ_i + w·log σ_{i+1},   ᾱ(t) = 1/(1 + σ(t)²),
 *     α = √ᾱ(t) = 1/√(1 + σ²),   √(1 − ᾱ(t)) = σ·α.
 *
 *   Where the scheduler itself took σ at t by *linear* interpolation of σ (diffusers'
 *   default `interpolation_type: "linear"`), its σ_i differs slightly from σ(t) here; that
 *   mismatch is the scheduler's, a network trained on integer t would see it too, and
 *   {@link sigmaMismatch} measures it.
 *
 * @param {Float32Array} alphasCumprod
 * @param {number} t
 * @returns {{ alpha: number, sigma: number }} α = √ᾱ(t) and √(1 − ᾱ(t)) (float64).
 */
export function vpNoiseLevel(alphasCumprod, t) {
  const T = alphasCumprod.length;
  const i = Math.min(Math.max(Math.floor(t), 0), T - 1);
  if (t === i) return { alpha: Math.sqrt(alphasCumprod[i]), sigma: Math.sqrt(1 - alphasCumprod[i]) };
  const logSigma = (k) => 0.5 * Math.log((1 - alphasCumprod[k]) / alphasCumprod[k]);
  const lo = Math.min(i, T - 2);
  const w = t - lo;
  const sigmaT = Math.exp((1 - w) * logSigma(lo) + w * logSigma(lo + 1));
  const alpha = 1 / Math.sqrt(1 + sigmaT * sigmaT);
  return { alpha, sigma: sigmaT * alpha };
}

/**
 * The largest relative difference between a sigma scheduler's σ_i at each of its timesteps
 * t_i and σ(t_i) of {@link vpNoiseLevel}; null where the scheduler has no `sigmas` or they do
 * not pair with its timesteps one to one (KDPM2 interleaves midpoints whose σ it keeps
 * apart). Call it after `setTimesteps`.
 * @returns {number | null}
 */
export function sigmaMismatch(scheduler) {
  const { sigmas, timesteps } = scheduler;
  if (!sigmas || sigmas.length !== timesteps.length + 1) return null;
  let worst = 0;
  Array.from(timesteps).forEach((t, i) => {
    const { alpha, sigma } = vpNoiseLevel(scheduler.alphasCumprod, t);
    if (sigmas[i] > 0) worst = Math.max(worst, Math.abs(sigma / alpha - sigmas[i]) / sigmas[i]);
  });
  return worst;
}

/**
 * The exact ε-model of the mixture (modes of std `s`) for a diffusers-style scheduler with
 * `prediction_type: "epsilon"`: it is called as the sampling loop calls a model, with the
 * scheduler's scaled input (`scaleModelInput`: the VP-scaled x_t = α x_0 + σ ε, also for sigma
 * schedulers, whose x/√(σ² + 1) is exactly that) and t [B] (int32, or float32 where the
 * timesteps are fractional), and returns ε̂ [B, 2]. The noise level at t is
 * {@link vpNoiseLevel}'s, from the scheduler's own ᾱ table, computed on the device from the
 * t tensor (nothing is read back).
 *
 * @returns {{ model: (x: tf.Tensor, t: tf.Tensor1D) => tf.Tensor, dispose: () => void }}
 */
export function exactSchedulerModel(scheduler, s) {
  const abar = Float64Array.from(scheduler.alphasCumprod);
  const T = abar.length;
  const table = (f) => tf.tensor1d(Float32Array.from(abar, f));
  const sqrtAbar = table(Math.sqrt);
  const sqrtOneMinus = table((a) => Math.sqrt(1 - a));
  const logSigma = table((a) => 0.5 * Math.log((1 - a) / a));
  const { centers, centersSq } = centerTensors();
  const model = (x, t) =>
    tf.tidy(() => {
      const tf32 = tf.cast(t, 'float32');
      const floor = tf.floor(tf32);
      const integer = tf.reshape(tf.equal(tf32, floor), [-1, 1]);
      const lo = tf.clipByValue(floor, 0, T - 2);
      const w = tf.reshape(tf.sub(tf32, lo), [-1, 1]);
      const at = (table, index) => tf.reshape(tf.gather(table, tf.cast(index, 'int32')), [-1, 1]);
      // Fractional t: log σ linear between the neighbours, then α = 1/√(1 + σ²), √(1 − ᾱ) = σ·α.
      const logSig = tf.add(tf.mul(tf.sub(1, w), at(logSigma, lo)), tf.mul(w, at(logSigma, tf.add(lo, 1))));
      const sig = tf.exp(logSig);
      const alphaFrac = tf.rsqrt(tf.add(1, tf.square(sig)));
      // Integer t: the table itself.
      const whole = tf.clipByValue(floor, 0, T - 1);
      const a = tf.where(integer, at(sqrtAbar, whole), alphaFrac);
      const sg = tf.where(integer, at(sqrtOneMinus, whole), tf.mul(sig, alphaFrac));
      return posterior(x, a, sg, s, centers, centersSq).eps;
    });
  return { model, dispose: () => tf.dispose([sqrtAbar, sqrtOneMinus, logSigma, centers, centersSq]) };
}

/**
 * Scores a flat [n·2] cloud against the mixture with modes of std `s`. MMD² uses
 * k(x, y) = exp(−|x − y|²/2ℓ²), ℓ = 0.1; its data terms have closed forms (2-D Gaussians
 * convolve): E_{y~p} k(x, y) = Σ_k ℓ²/(ℓ² + s²)·exp(−|x − c_k|²/2(ℓ² + s²))/K, and E_{p,p} k
 * likewise with 2s². The sample term is the unbiased U-statistic, so MMD² can dip below 0 at
 * the noise floor; `mmd` is the signed √MMD² (≤ 0 means "within noise").
 *
 * @returns {{ finite: number, mmd: number, spreadRatio: number, nearMode: number, modeTV: number }}
 */
export function scoreMixture(points, s) {
  const n = points.length / 2;
  const L2 = 0.1 * 0.1;
  let eqq = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d2 = (points[2 * i] - points[2 * j]) ** 2 + (points[2 * i + 1] - points[2 * j + 1]) ** 2;
      eqq += 2 * Math.exp(-d2 / (2 * L2));
    }
  }
  eqq /= n * (n - 1);
  let eqp = 0;
  let finite = 0;
  let near = 0;
  const distances = new Float64Array(n);
  const counts = new Array(K).fill(0);
  for (let i = 0; i < n; i++) {
    const [x, y] = [points[2 * i], points[2 * i + 1]];
    if (Number.isFinite(x) && Number.isFinite(y)) finite++;
    let best = Infinity;
    let bestK = 0;
    CENTERS.forEach(([cx, cy], k) => {
      const d2 = (x - cx) ** 2 + (y - cy) ** 2;
      eqp += ((L2 / (L2 + s * s)) * Math.exp(-d2 / (2 * (L2 + s * s)))) / K;
      if (d2 < best) [best, bestK] = [d2, k];
    });
    counts[bestK]++;
    distances[i] = Math.sqrt(best);
    if (Math.sqrt(best) < 3 * s) near++;
  }
  eqp /= n;
  let epp = 0;
  for (const [ax, ay] of CENTERS) {
    for (const [bx, by] of CENTERS) {
      epp += ((L2 / (L2 + 2 * s * s)) * Math.exp(-((ax - bx) ** 2 + (ay - by) ** 2) / (2 * (L2 + 2 * s * s)))) / (K * K);
    }
  }
  const mmd2 = eqq - 2 * eqp + epp;
  const round = (v, digits = 4) => Math.round(v * 10 ** digits) / 10 ** digits;
  return {
    finite: finite / n,
    mmd: round(Math.sign(mmd2) * Math.sqrt(Math.abs(mmd2))),
    // Median distance to the nearest mode over its value for the data, s·√(2 ln 2) (a
    // Rayleigh median): the width of the modes, 1 when right, untouched by stray points.
    spreadRatio: round(distances.sort()[Math.floor(n / 2)] / (s * Math.sqrt(2 * Math.LN2))),
    nearMode: round(near / n),
    modeTV: round(0.5 * counts.reduce((acc, c) => acc + Math.abs(c / n - 1 / K), 0)),
  };
}
